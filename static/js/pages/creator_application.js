// The creator program's application form (templates/web/creator_application.html).
import { api, clearFormErrors } from "../api.js";
import { busy, fill, h, reportError } from "../ui.js";

const form = document.querySelector("[data-creator-form]");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFormErrors(form);
  await busy(form.querySelector("[type=submit]"), async () => {
    try {
      const application = await api("payouts/creator-application/", { method: "POST", body: { pitch: form.pitch.value.trim() } });
      form.hidden = true;
      fill(document.querySelector("[data-result]"), h("div", { class: "card quote", role: "status" },
        h("p", {}, h("strong", {}, "Application received."), ` Status: ${application.status.replaceAll("_", " ")}. We'll notify you when it is reviewed.`),
        h("a", { href: "/wallet/" }, "Go to your wallet")));
    } catch (error) { reportError(error, form); }
  });
});
