// Settings: a creator's own Send Money switch, through /api/v1/payouts/creator/send-money/.
import { api } from "../api.js";
import { fill, reportError, toast } from "../ui.js";

const box = document.querySelector("[data-send-money-settings]");
const input = box?.querySelector("[data-send-money-on]");
const status = box?.querySelector("[data-send-money-status]");

input?.addEventListener("change", async () => {
  const wanted = input.checked;
  input.disabled = true;
  try {
    const state = await api("payouts/creator/send-money/", { method: "PUT", body: { on: wanted } });
    input.checked = state.on;
    fill(status, state.can_receive_money ? "Listeners can send you money now." : "Listeners cannot send you money right now.");
    toast(state.on ? "Send Money is on." : "Send Money is off: the button is gone from your profile.");
  } catch (error) {
    input.checked = !wanted;
    reportError(error);
  } finally {
    input.disabled = false;
  }
});
