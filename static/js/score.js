// Blind side-by-side scoring: keyboard steps through the scores and the preference.
// The output letters come from the page as json_script data (#score-letters).
(function () {
  var form = document.getElementById("vote-form");
  var steps = Array.prototype.slice.call(form.querySelectorAll("[data-step]"));
  var where = document.getElementById("where");
  var letters = JSON.parse(document.getElementById("score-letters").textContent);
  function filled(step) { return !!step.querySelector("input:checked"); }
  function firstEmpty() { for (var i = 0; i < steps.length; i++) { if (!filled(steps[i])) return i; } return -1; }
  var cur = Math.max(0, firstEmpty());
  function show() {
    steps.forEach(function (s, i) { s.classList.toggle("current", i === cur); });
    steps[cur].scrollIntoView({block: "nearest"});
    var left = steps.filter(function (s) { return !filled(s); }).length;
    where.textContent = "Now: " + steps[cur].dataset.title + " — " + (left ? left + " left" : "complete, press Enter to submit");
  }
  function choose(name, value) {
    var input = form.querySelector('input[name="' + name + '"][value="' + value + '"]');
    if (input) { input.checked = true; }
    return !!input;
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var key = e.key, step = steps[cur];
    if (/^[1-5]$/.test(key) && step.dataset.name !== "pref") {
      choose(step.dataset.name, key);
      cur = Math.min(steps.length - 1, cur + 1);
    } else if (letters.indexOf(key.toUpperCase()) !== -1 && key.length === 1) {
      choose("pref", key.toUpperCase()); cur = steps.length - 1;
    } else if (key === "t" || key === "x") {
      choose("pref", key === "t" ? "tie" : "bad"); cur = steps.length - 1;
    } else if (key === "ArrowLeft" || key === "Backspace" || key === "ArrowUp") {
      cur = Math.max(0, cur - 1);
    } else if (key === "ArrowRight" || key === "ArrowDown") {
      cur = Math.min(steps.length - 1, cur + 1);
    } else if (key === "Enter") {
      var empty = firstEmpty();
      if (empty === -1) { e.preventDefault(); form.submit(); return; }
      cur = empty; steps[cur].classList.add("missing");
    } else {
      return;
    }
    e.preventDefault();
    show();
  });
  form.addEventListener("change", function (e) {
    var i = steps.indexOf(e.target.closest("[data-step]"));
    if (i !== -1) { cur = Math.min(steps.length - 1, i + 1); show(); }
  });
  show();
  form.dataset.ready = "1";  // the keys work from here on (tests wait for it)
})();
