// Loaded before anything else, as a classic script: it runs while the page is still parsing.
//
// Forms that the page's modules own (no `method`, no `action`) must not submit natively while
// those modules are still loading: a quick click on a slow connection would GET the page again
// and lose what was typed. This listener runs after the form's own (submit bubbles to the
// document), so once a module handles the form it sees `defaultPrevented` and stays out of the
// way; before that, it holds the submit and replays it when the modules have run (they all run
// before DOMContentLoaded).
(function () {
  let pending = null;
  let ready = false;
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (ready || event.defaultPrevented) return;
    if (form.hasAttribute("method") || form.hasAttribute("action")) return;
    event.preventDefault();
    pending = { form: form, submitter: event.submitter || null };
  });
  document.addEventListener("DOMContentLoaded", function () {
    ready = true;
    const held = pending;
    pending = null;
    if (held && held.form.isConnected) {
      held.form.requestSubmit(held.submitter && held.submitter.form === held.form ? held.submitter : undefined);
    }
  });
})();
