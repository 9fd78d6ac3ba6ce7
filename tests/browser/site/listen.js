// Loaded first, from the page's own origin: records every CSP violation the
// page sees (enforced or report-only), so the test can read them.
window.violations = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.violations.push({ directive: e.effectiveDirective, disposition: e.disposition,
                           blocked: String(e.blockedURI) });
});
