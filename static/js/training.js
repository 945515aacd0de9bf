// Training launch form: show only the fields that apply (data-show-when="field=value|value") and fill presets.
(function () {
  "use strict";
  const form = document.getElementById("launch-form");
  if (!form) return;

  function value(name) {
    const el = form.elements[name];
    if (!el) return "";
    if (el.type === "checkbox") return el.checked ? "on" : "";
    return el.value;
  }

  function applyVisibility() {
    form.querySelectorAll("[data-show-when]").forEach(function (el) {
      const [name, values] = el.dataset.showWhen.split("=");
      const box = el.closest(".field") || el;
      box.hidden = !values.split("|").includes(value(name));
    });
  }

  function fill(values) {
    Object.entries(values).forEach(function ([name, v]) {
      const el = form.elements[name];
      if (!el) return;
      if (el.type === "checkbox") el.checked = Boolean(v);
      else el.value = Array.isArray(v) ? v.join(" ") : String(v);
    });
  }

  const presets = JSON.parse(document.getElementById("launch-presets").textContent);
  form.querySelectorAll("[data-preset]").forEach(function (button) {
    button.addEventListener("click", function () {
      const preset = presets[Number(button.dataset.preset)];
      fill(preset.values);
      applyVisibility();
      document.getElementById("preset-note").textContent = preset.name + ": " + preset.help;
      document.body.dispatchEvent(new Event("preset"));  // the estimate pane refreshes on it
    });
  });
  form.addEventListener("change", applyVisibility);
  applyVisibility();
})();
