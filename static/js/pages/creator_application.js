// The creator program page (templates/web/creator_application.html): where your application
// stands (with the reason when it was not approved), your program's terms once you are a
// creator, and the application form when you may apply.
import { api, clearFormErrors } from "../api.js";
import { busy, fill, h, money, reportError, when } from "../ui.js";

const status = document.querySelector("[data-status]");
const apply = document.querySelector("[data-apply]");
const form = document.querySelector("[data-creator-form]");

function stipendText(p) {
  if (!p.stipend_start_month || p.stipend_amount <= 0) return "No monthly stipend.";
  const until = p.stipend_end_month ? `to ${p.stipend_end_month}` : "until further notice";
  let text = `Stipend: ${money(p.stipend_amount, p.stipend_currency)} a month from ${p.stipend_start_month} ${until}.`;
  if (p.stipend_next) text += ` From ${p.stipend_next.from}: ${money(p.stipend_next.amount, p.stipend_next.currency)} a month.`;
  if (p.stipend_paused_from) text += ` Paused from ${p.stipend_paused_from}${p.stipend_resumes_month ? ` until ${p.stipend_resumes_month}` : ""}.`;
  return text;
}

function show({ application, program }) {
  if (program) {
    fill(status, h("div", { class: "card quote", role: "status", dataset: { creatorProgram: "" } },
      h("p", {}, h("strong", {}, "You're in the creator program.")),
      h("p", {}, program.send_money_enabled ? "Send Money is on: listeners can tip you once your payout account is connected." : "Send Money is off."),
      h("p", { dataset: { stipend: "" } }, stipendText(program)),
      h("a", { class: "button", href: "/wallet/" }, "Go to your wallet")));
    apply.hidden = true;
    return;
  }
  if (application && application.status === "pending") {
    fill(status, h("div", { class: "card quote", role: "status", dataset: { applicationStatus: "pending" } },
      h("p", {}, h("strong", {}, "Your application is waiting for review."), ` Sent ${when(application.created, { dateStyle: "medium" })}. We'll notify you of the decision.`)));
    apply.hidden = true;
    return;
  }
  if (application && application.status === "rejected") {
    fill(status, h("div", { class: "card quote", role: "status", dataset: { applicationStatus: "rejected" } },
      h("p", {}, h("strong", {}, "Your last application was not approved.")),
      application.reason ? h("p", { dataset: { rejectionReason: "" } }, `Why: ${application.reason}`) : null,
      h("p", {}, "You can apply again below.")));
  } else {
    fill(status);
  }
  apply.hidden = false;
}

async function load() {
  try { show(await api("payouts/creator-application/")); } catch (error) { reportError(error); apply.hidden = false; }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFormErrors(form);
  await busy(form.querySelector("[type=submit]"), async () => {
    try {
      await api("payouts/creator-application/", { method: "POST", body: { pitch: form.pitch.value.trim() } });
      form.reset();
      await load();
    } catch (error) { reportError(error, form); }
  });
});

load();
