/* Keyboard-first review. No build step, no dependencies.
 *
 * The page shows one item; the next one is fetched (and leased) in the background as
 * soon as an item is shown, so a verdict swaps it in at once while the verdict is
 * posted behind it. Server HTML is autoescaped; this script never builds HTML from text.
 */
(function () {
  "use strict";

  function isTyping(el) {
    return !!el && (el.tagName === "INPUT" || el.tagName === "TEXTAREA" || el.tagName === "SELECT" || el.isContentEditable);
  }

  const root = document.getElementById("review");
  if (!root) {
    // Queue page: Enter starts reviewing.
    const start = document.getElementById("start-review");
    if (start) {
      document.addEventListener("keydown", function (e) {
        if (e.key === "Enter" && !isTyping(e.target) && e.target.tagName !== "A" && e.target.tagName !== "BUTTON") {
          e.preventDefault();
          location.href = start.href;
        }
      });
    }
    return;
  }

  const csrf = root.dataset.csrf;
  const slot = document.getElementById("review-slot");
  const emptyBox = document.getElementById("review-empty");
  const statusEl = document.getElementById("review-status");
  let mode = "view"; // view | reject | correct
  let shownAt = performance.now();
  let prefetch = null;
  let pending = Promise.resolve();
  let fileIdx = -1;
  let commitIdx = -1;
  let editorSnapshot = null;

  const item = () => document.getElementById("review-item");
  const editor = () => document.getElementById("editor");

  function say(text, error) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!error);
  }

  // Items decided on this page: never offered again by the prefetch, even while their verdict is in flight.
  const done = [];

  function startPrefetch() {
    const it = item();
    if (!it) return;
    const url = it.dataset.nextUrl + done.map(function (id) { return "&exclude=" + id; }).join("");
    // Resolves to the next item's HTML, null when the queue is empty, or false on a failure.
    prefetch = fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.status === 200 ? r.text() : r.status === 204 ? null : false; })
      .catch(function () { return false; });
  }

  // One token per verdict: the server stores a verdict sent twice (a retry) only once.
  function newToken() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
  }

  function post(url, body, retries) {
    const send = function () {
      return fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
        body: JSON.stringify(body || {}),
      });
    };
    // A network failure (no answer) is retried with the same body, token included.
    const attempt = function (left) {
      return send().catch(function (err) {
        if (left <= 0) throw err;
        return new Promise(function (ok) { setTimeout(ok, 1000); }).then(function () { return attempt(left - 1); });
      });
    };
    return attempt(retries || 0).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.error || "HTTP " + r.status);
        return data;
      });
    });
  }

  function resetState() {
    mode = "view";
    fileIdx = -1;
    commitIdx = -1;
    editorSnapshot = null;
    shownAt = performance.now();
  }

  function advance() {
    done.push(item().dataset.label);
    if (done.length > 50) done.shift();
    const waiting = prefetch || Promise.resolve(null);
    waiting.then(function (html) {
      if (html === false) {
        // The prefetch failed: let the server pick the next item on a full page load.
        pending.then(function () { location.href = root.dataset.nextPageUrl; });
        return;
      }
      if (html) {
        slot.innerHTML = html;
        slot.hidden = false;
        const it = item();
        history.pushState({}, "", it.dataset.url);
        document.title = it.dataset.title + " · gsctune";
        resetState();
        window.scrollTo(0, 0);
        startPrefetch();
      } else {
        slot.hidden = true;
        emptyBox.hidden = false;
        prefetch = null;
      }
    });
  }

  function submit(verdict, extra) {
    const it = item();
    const labelId = it.dataset.label;
    const body = Object.assign(
      { verdict: verdict, seconds: (performance.now() - shownAt) / 1000, token: newToken() }, extra || {});
    const url = it.dataset.verdictUrl;
    pending = pending
      .then(function () { return post(url, body, 2); })
      .then(
        function () { say(verdict + " saved for label " + labelId); },
        function (err) { say("label " + labelId + ": " + err.message, true); }
      );
    advance();
  }

  // ---- viewing --------------------------------------------------------------------

  function files() { return Array.prototype.slice.call(item().querySelectorAll(".diff-file")); }

  function focusFile(i) {
    const fs = files();
    if (!fs.length) return;
    fileIdx = (i + fs.length) % fs.length;
    fs.forEach(function (f, n) { f.classList.toggle("current", n === fileIdx); });
    fs[fileIdx].scrollIntoView({ block: "start" });
  }

  function nextCommit() {
    const cs = Array.prototype.slice.call(item().querySelectorAll(".review-commit"));
    if (!cs.length) return;
    commitIdx = (commitIdx + 1) % cs.length;
    cs.forEach(function (c, n) { c.classList.toggle("current", n === commitIdx); });
    cs[commitIdx].scrollIntoView({ block: "nearest" });
    const first = cs[commitIdx].querySelector(".files li");
    if (first) {
      const fs = files();
      const at = fs.findIndex(function (f) { return f.dataset.path === first.textContent; });
      if (at >= 0) focusFile(at);
    }
  }

  function toggleFile() {
    const fs = files();
    if (!fs.length) return;
    if (fileIdx < 0) focusFile(0);
    fs[fileIdx].open = !fs[fileIdx].open;
  }

  function toggleOriginal() {
    const box = item().querySelector("#original");
    box.hidden = !box.hidden;
    if (!box.hidden) box.scrollIntoView({ block: "nearest" });
  }

  // ---- reject ---------------------------------------------------------------------

  function openReject() {
    const panel = item().querySelector("#reject-panel");
    if (!panel) return;
    mode = "reject";
    panel.hidden = false;
    panel.scrollIntoView({ block: "nearest" });
    say("reject: choose reasons with 1–7, Enter to confirm");
  }

  function sendReject() {
    const panel = item().querySelector("#reject-panel");
    const reasons = Array.prototype.slice.call(panel.querySelectorAll("input[name=reason]:checked"))
      .map(function (x) { return x.value; });
    if (!reasons.length) { say("choose at least one reason (1–7)", true); return; }
    submit("reject", { reasons: reasons, note: panel.querySelector("textarea[name=note]").value });
  }

  function onRejectKey(e) {
    const panel = item().querySelector("#reject-panel");
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey || !isTyping(e.target))) {
      e.preventDefault();
      sendReject();
      return;
    }
    if (isTyping(e.target)) return;
    if (/^[1-9]$/.test(e.key)) {
      const box = panel.querySelector('input[data-key="' + e.key + '"]');
      if (box) { e.preventDefault(); box.checked = !box.checked; }
    } else if (e.key === "t") {
      e.preventDefault();
      panel.querySelector("textarea[name=note]").focus();
    }
  }

  // ---- correct --------------------------------------------------------------------

  function commitSets() { return Array.prototype.slice.call(editor().querySelectorAll(".edit-commits > .edit-commit")); }

  function renumber() {
    commitSets().forEach(function (fs, i) {
      fs.querySelector(".enum").textContent = String(i + 1);
      fs.className = fs.className.replace(/\s*tint-\d+/g, "") + " tint-" + (i % 8);
    });
  }

  function addCommit() {
    const tpl = editor().querySelector("template.commit-template");
    const node = tpl.content.firstElementChild.cloneNode(true);
    editor().querySelector(".edit-commits").appendChild(node);
    renumber();
    return node;
  }

  function moveFile(li, idx) {
    let cs = commitSets();
    if (idx > cs.length) { say("there is no commit " + (idx + 1), true); return; }
    if (idx === cs.length) { addCommit(); cs = commitSets(); }
    cs[idx].querySelector(".edit-files").appendChild(li);
    li.focus();
    say(li.dataset.path + " → commit " + (idx + 1));
  }

  function merge(fs) {
    const cs = commitSets();
    const i = cs.indexOf(fs);
    if (i <= 0) { say("the first commit has nothing to merge into", true); return; }
    const target = cs[i - 1].querySelector(".edit-files");
    Array.prototype.slice.call(fs.querySelectorAll(".edit-files li")).forEach(function (li) { target.appendChild(li); });
    fs.remove();
    renumber();
    cs[i - 1].querySelector("input[name=description]").focus();
  }

  function openEditor() {
    const ed = editor();
    if (!ed) return;
    if (editorSnapshot === null) editorSnapshot = ed.innerHTML;
    mode = "correct";
    ed.hidden = false;
    // The editor holds the whole proposal: show it at the top of the side pane.
    item().querySelector("#proposal").hidden = true;
    item().querySelector("#original").hidden = true;
    const first = ed.querySelector("input[name=description]");
    if (first) { first.focus(); first.select(); }
    say("correct: Tab between fields, 1–9 on a file moves it, Ctrl+Enter saves");
  }

  // The subject as clean_correction() will build it, shown under each commit's fields.
  function subjectOf(fs) {
    const type = fs.querySelector("[name=type]").value;
    const scope = fs.querySelector("[name=scope]").value.trim();
    const bang = fs.querySelector("[name=breaking]").checked ? "!" : "";
    const first = bang && scope && fs.dataset.bangFirst === "1";
    const head = first ? type + bang + "(" + scope + ")" : type + (scope ? "(" + scope + ")" : "") + bang;
    return head + ": " + fs.querySelector("[name=description]").value.trim();
  }

  function updatePreview(e) {
    const fs = e.target.closest ? e.target.closest(".edit-commit") : null;
    if (fs && editor() && editor().contains(fs)) fs.querySelector(".subject-preview code").textContent = subjectOf(fs);
  }

  function readEditor() {
    return {
      commits: commitSets().map(function (fs) {
        return {
          type: fs.querySelector("[name=type]").value,
          scope: fs.querySelector("[name=scope]").value,
          breaking: fs.querySelector("[name=breaking]").checked,
          bang_first: fs.dataset.bangFirst === "1",
          description: fs.querySelector("[name=description]").value,
          body: fs.querySelector("[name=body]").value,
          issues: JSON.parse(fs.dataset.issues || "[]"),
          files: Array.prototype.slice.call(fs.querySelectorAll(".edit-files li")).map(function (li) { return li.dataset.path; }),
        };
      }),
      gitignore: editor().querySelector("[name=gitignore]").value.split("\n"),
    };
  }

  function saveCorrection() {
    const it = item();
    const body = { verdict: "correct", seconds: (performance.now() - shownAt) / 1000, correction: readEditor(),
                   token: newToken() };
    say("saving correction…");
    // A correction can be refused (e.g. a commit without description): wait for the answer.
    pending = pending
      .then(function () { return post(it.dataset.verdictUrl, body, 2); })
      .then(
        function () { say("correction saved for label " + it.dataset.label); advance(); },
        function (err) { say("correction not saved: " + err.message, true); }
      );
  }

  function onEditorKey(e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); saveCorrection(); return; }
    const li = e.target.closest ? e.target.closest(".edit-files li") : null;
    if (!li || e.ctrlKey || e.metaKey || e.altKey) return;
    if (/^[1-9]$/.test(e.key)) { e.preventDefault(); moveFile(li, Number(e.key) - 1); }
    else if (e.key === "n") { e.preventDefault(); moveFile(li, commitSets().length); }
  }

  function cancelMode() {
    const it = item();
    if (mode === "reject") {
      const panel = it.querySelector("#reject-panel");
      panel.hidden = true;
      panel.querySelectorAll("input[name=reason]").forEach(function (x) { x.checked = false; });
      panel.querySelector("textarea[name=note]").value = "";
    } else if (mode === "correct") {
      const ed = editor();
      ed.innerHTML = editorSnapshot;
      ed.hidden = true;
      it.querySelector("#proposal").hidden = false;
    }
    if (document.activeElement) document.activeElement.blur();
    mode = "view";
    say("");
  }

  function undo() {
    say("undoing…");
    pending = pending
      .then(function () { return post(root.dataset.undoUrl); })
      .then(
        function (data) { location.href = data.url; },
        function (err) { say(err.message, true); }
      );
  }

  // ---- wiring ---------------------------------------------------------------------

  document.addEventListener("click", function (e) {
    const btn = e.target.closest ? e.target.closest("[data-action=merge]") : null;
    if (btn) { e.preventDefault(); merge(btn.closest(".edit-commit")); }
  });

  document.addEventListener("input", updatePreview);
  document.addEventListener("change", updatePreview);

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented) return;
    if (e.key === "Escape" && mode !== "view") { e.preventDefault(); cancelMode(); return; }
    if (!item() || slot.hidden) {
      if (e.key === "u" && !isTyping(e.target)) { e.preventDefault(); undo(); }
      return;
    }
    if (mode === "correct") { onEditorKey(e); return; }
    if (mode === "reject") { onRejectKey(e); return; }
    if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    const actions = {
      a: function () { submit("accept"); },
      r: openReject,
      c: openEditor,
      s: function () { submit("skip"); },
      u: undo,
      j: function () { focusFile(fileIdx + 1); },
      k: function () { focusFile(fileIdx - 1); },
      n: nextCommit,
      x: toggleFile,
      o: toggleOriginal,
    };
    const action = actions[e.key];
    if (action) { e.preventDefault(); action(); }
  });

  window.addEventListener("popstate", function () { location.reload(); });
  startPrefetch();
})();
