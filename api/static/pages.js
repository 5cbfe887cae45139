// Every page: a form with data-ask asks before it is sent; a button with data-print prints the page
// (the pages' CSP allows no inline handlers).
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form && form.dataset && form.dataset.ask && !window.confirm(form.dataset.ask)) { ev.preventDefault(); }
  }, true);
  document.addEventListener("click", function (ev) {
    var el = ev.target && ev.target.closest ? ev.target.closest("[data-print]") : null;
    if (el) { window.print(); }
  });
})();
