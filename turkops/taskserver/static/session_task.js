// The task page's behaviour (served as a file: the Content-Security-Policy forbids inline
// script). As on the MTurk page: unchecked checkboxes are not sent by browsers, so each image
// has an explicit 0/1 hidden field, and clicking an image toggles it.
(function () {
  "use strict";
  var form = document.getElementById("task_form");
  var button = document.getElementById("submit_button");
  Array.prototype.forEach.call(document.querySelectorAll(".item"), function (box) {
    var pick = box.querySelector(".pick");
    var field = document.getElementById(pick.getAttribute("data-target"));
    function sync() {
      field.value = pick.checked ? "1" : "0";
      box.classList.toggle("selected", pick.checked);
    }
    pick.addEventListener("change", sync);
    box.addEventListener("click", function (ev) {
      if (ev.target === pick || ev.target.tagName === "LABEL") { return; }
      pick.checked = !pick.checked;
      sync();
    });
  });
  // A double click must not post twice (the server would ignore the second post anyway).
  form.addEventListener("submit", function () { button.disabled = true; });
})();
