// Every page: a form with data-ask asks before it is sent (the pages' CSP allows no inline handlers).
(function () {
  "use strict";
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form && form.dataset && form.dataset.ask && !window.confirm(form.dataset.ask)) { ev.preventDefault(); }
  }, true);
})();
