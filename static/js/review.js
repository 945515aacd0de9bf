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
  let mode = "view"; // view | reject | correct | hunks
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
    const group = item().querySelector("#hunk-editor");
    if (group && JSON.parse(group.dataset.state).hunk_level) { openHunks(); return; }
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
    } else if (mode === "hunks") {
      closeHunks();
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

  // ---- correct hunks (group editor) -----------------------------------------------
  // State: commits with hunk ids and the skipped ids; every edit pushes the previous state on `undos`.

  let hs = null; // {commits, skipped, order, els, files, initial, undos, cur}

  function hunkState() {
    const data = JSON.parse(item().querySelector("#hunk-editor").dataset.state);
    const els = Array.prototype.slice.call(item().querySelectorAll("#hunk-pane .hunk"));
    const order = {};
    data.hunks.forEach(function (h, i) { order[h.id] = i; });
    return { commits: data.commits, skipped: data.skipped, hunks: data.hunks, order: order, els: els,
             initial: JSON.stringify({ commits: data.commits, skipped: data.skipped }), undos: [], cur: 0 };
  }

  function snapshot() { return JSON.stringify({ commits: hs.commits, skipped: hs.skipped }); }

  function edit(fn) {
    const before = snapshot();
    if (fn() === false) return;
    hs.undos.push(before);
    renderHunks();
  }

  function ownerOf() {
    const owner = {};
    hs.commits.forEach(function (c, i) { c.hunks.forEach(function (id) { owner[id] = i; }); });
    hs.skipped.forEach(function (id) { owner[id] = "skip"; });
    return owner;
  }

  function uncovered(owner) { return hs.hunks.filter(function (h) { return !(h.id in owner); }).map(function (h) { return h.id; }); }

  function renderHunks() {
    const owner = ownerOf();
    const tints = {};
    hs.hunks.forEach(function (h) {
      const o = owner[h.id];
      if (typeof o === "number") (tints[h.file] = tints[h.file] || {})[o] = true;
    });
    hs.els.forEach(function (el, i) {
      const h = hs.hunks[i];
      const o = owner[h.id];
      const cls = ["hunk", typeof o === "number" ? "tint-" + (o % 8) : o === "skip" ? "skipped" : "tint-none"];
      if (Object.keys(tints[h.file] || {}).length > 1) cls.push("file-split");
      if (i === hs.cur) cls.push("current");
      el.className = cls.join(" ");
      el.querySelector(".hwhere").textContent = typeof o === "number" ? "commit " + (o + 1) : o === "skip" ? "skipped" : "in no commit";
    });
    const list = item().querySelector("#hunk-editor .hunk-commits");
    const curOwner = owner[hs.hunks[hs.cur] && hs.hunks[hs.cur].id];
    list.textContent = "";
    hs.commits.forEach(function (c, i) {
      const li = document.createElement("li");
      li.className = "tint-" + (i % 8) + (i === curOwner ? " current" : "");
      li.dataset.commit = String(i);
      const head = document.createElement("div");
      const b = document.createElement("b");
      b.textContent = (i + 1) + ". " + c.type + (c.scope ? "(" + c.scope + ")" : "") + ": ";
      const desc = document.createElement("input");
      desc.name = "hunk-description";
      desc.value = c.description;
      desc.placeholder = "description (required)";
      desc.setAttribute("aria-label", "description of commit " + (i + 1));
      head.appendChild(b);
      head.appendChild(desc);
      const ids = document.createElement("div");
      ids.className = "hids";
      ids.textContent = c.hunks.length ? c.hunks.join(" ") : "(empty: dropped on save)";
      li.appendChild(head);
      li.appendChild(ids);
      list.appendChild(li);
    });
    const missing = uncovered(owner);
    const cov = item().querySelector("#hunk-coverage");
    cov.textContent = missing.length
      ? missing.length + " hunk" + (missing.length > 1 ? "s" : "") + " in no commit and not skipped: " + missing.join(", ")
      : "every hunk is in exactly one commit or skipped (" + hs.skipped.length + " skipped)";
    cov.className = "coverage " + (missing.length ? "bad" : "ok");
  }

  function placeHunks(ids, idx) {
    if (idx > hs.commits.length) { say("there is no commit " + (idx + 1), true); return false; }
    const from = ownerOf()[ids[0]];
    if (idx === hs.commits.length) {
      const src = typeof from === "number" ? hs.commits[from] : { type: "chore", scope: "" };
      hs.commits.push({ type: src.type || "chore", scope: src.scope || "", description: "", breaking: false,
                        bang_first: false, body: "", issues: [], hunks: [] });
    }
    const set = {};
    ids.forEach(function (id) { set[id] = true; });
    hs.commits.forEach(function (c) { c.hunks = c.hunks.filter(function (id) { return !set[id]; }); });
    hs.skipped = hs.skipped.filter(function (id) { return !set[id]; });
    const target = hs.commits[idx].hunks;
    ids.forEach(function (id) { target.push(id); });
    target.sort(function (a, b) { return hs.order[a] - hs.order[b]; });
    say(ids.length === 1 ? ids[0] + " → commit " + (idx + 1) : ids.length + " hunks of " + hs.hunks[hs.order[ids[0]]].file + " → commit " + (idx + 1));
    return true;
  }

  function moveCurrent(idx, wholeFile) {
    const t0 = performance.now();
    const h = hs.hunks[hs.cur];
    const ids = wholeFile ? hs.hunks.filter(function (x) { return x.file === h.file; }).map(function (x) { return x.id; }) : [h.id];
    edit(function () { return placeHunks(ids, idx); });
    void hs.els[hs.cur].offsetHeight; // include the style and layout work in the measure
    performance.measure("hunk-move", { start: t0, end: performance.now() });
  }

  function currentCommit() {
    const o = ownerOf()[hs.hunks[hs.cur].id];
    return typeof o === "number" ? o : -1;
  }

  function skipCurrent() {
    const id = hs.hunks[hs.cur].id;
    edit(function () {
      const was = hs.skipped.indexOf(id) >= 0;
      hs.commits.forEach(function (c) { c.hunks = c.hunks.filter(function (x) { return x !== id; }); });
      hs.skipped = hs.skipped.filter(function (x) { return x !== id; });
      if (!was) hs.skipped.push(id);
      say(id + (was ? " no longer skipped: put it in a commit" : " skipped"));
    });
  }

  function mergeCurrent() {
    const i = currentCommit();
    if (i <= 0) { say("put the hunk in a commit after the first to merge it into the previous one", true); return; }
    edit(function () {
      const prev = hs.commits[i - 1];
      prev.hunks = prev.hunks.concat(hs.commits[i].hunks).sort(function (a, b) { return hs.order[a] - hs.order[b]; });
      hs.commits.splice(i, 1);
      say("commit " + (i + 1) + " merged into commit " + i);
    });
  }

  function splitCurrent() {
    const i = currentCommit();
    if (i < 0) { say("the hunk is in no commit", true); return; }
    const at = hs.order[hs.hunks[hs.cur].id];
    const c = hs.commits[i];
    const rest = c.hunks.filter(function (id) { return hs.order[id] >= at; });
    if (rest.length === c.hunks.length) { say("split at a later hunk of the commit: this is its first", true); return; }
    edit(function () {
      c.hunks = c.hunks.filter(function (id) { return hs.order[id] < at; });
      hs.commits.splice(i + 1, 0, { type: c.type, scope: c.scope, description: "", breaking: false, bang_first: false,
                                    body: "", issues: [], hunks: rest });
      say("commit " + (i + 1) + " split: " + rest.length + " hunk" + (rest.length > 1 ? "s" : "") + " into commit " + (i + 2));
    });
  }

  function reorderCurrent(delta) {
    const i = currentCommit();
    const j = i + delta;
    if (i < 0 || j < 0 || j >= hs.commits.length) { say("cannot move that commit further", true); return; }
    edit(function () {
      const c = hs.commits.splice(i, 1)[0];
      hs.commits.splice(j, 0, c);
      say("commit " + (i + 1) + " is now commit " + (j + 1));
    });
  }

  function undoHunkEdit() {
    if (!hs.undos.length) { say("nothing to undo in the editor", true); return; }
    const s = JSON.parse(hs.undos.pop());
    hs.commits = s.commits;
    hs.skipped = s.skipped;
    renderHunks();
    say("edit undone");
  }

  function focusHunk(i) {
    hs.cur = (i + hs.hunks.length) % hs.hunks.length;
    renderHunks();
    hs.els[hs.cur].scrollIntoView({ block: "nearest" });
  }

  function openHunks() {
    const ed = item().querySelector("#hunk-editor");
    if (!ed) return;
    hs = hunkState();
    if (!hs.hunks.length) { say("this diff has no hunks", true); hs = null; return; }
    mode = "hunks";
    ed.hidden = false;
    item().querySelector("#hunk-pane").hidden = false;
    item().querySelector(".diff-files").hidden = true;
    item().querySelector("#proposal").hidden = true;
    renderHunks();
    say("correct hunks: j/k hunk, 1–9 move, - skip, z undo, Ctrl+Enter save");
  }

  function closeHunks() {
    item().querySelector("#hunk-editor").hidden = true;
    item().querySelector("#hunk-pane").hidden = true;
    item().querySelector(".diff-files").hidden = false;
    item().querySelector("#proposal").hidden = false;
    hs = null;
  }

  function saveHunks() {
    const missing = uncovered(ownerOf());
    if (missing.length) { say("not saved: hunks in no commit and not skipped: " + missing.join(", "), true); return; }
    const gi = item().querySelector("#editor [name=gitignore]");
    const correction = {
      commits: hs.commits.map(function (c) {
        return { type: c.type, scope: c.scope, description: c.description, breaking: c.breaking, bang_first: c.bang_first,
                 body: c.body, issues: c.issues, hunks: c.hunks };
      }),
      skipped_hunks: hs.skipped.slice(),
      gitignore: gi ? gi.value.split("\n") : [],
    };
    const it = item();
    const body = { verdict: "correct", seconds: (performance.now() - shownAt) / 1000, correction: correction, token: newToken() };
    say("saving correction…");
    pending = pending
      .then(function () { return post(it.dataset.verdictUrl, body, 2); })
      .then(
        function () { say("correction saved for label " + it.dataset.label); hs = null; advance(); },
        function (err) { say("correction not saved: " + err.message, true); }
      );
  }

  function onHunkKey(e) {
    const t = e.target;
    if (t && t.name === "hunk-description") {
      if (e.key === "Enter" || e.key === "Escape") { e.preventDefault(); t.blur(); renderHunks(); }
      return;
    }
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); saveHunks(); return; }
    if (e.key === "z" && !e.altKey) { e.preventDefault(); undoHunkEdit(); return; }
    if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) { e.preventDefault(); reorderCurrent(e.key === "ArrowUp" ? -1 : 1); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const digit = /^Digit([1-9])$/.exec(e.code || "");
    if (digit) { e.preventDefault(); moveCurrent(Number(digit[1]) - 1, e.shiftKey); return; }
    const actions = {
      j: function () { focusHunk(hs.cur + 1); },
      k: function () { focusHunk(hs.cur - 1); },
      "-": skipCurrent,
      m: mergeCurrent,
      s: splitCurrent,
      "[": function () { reorderCurrent(-1); },
      "]": function () { reorderCurrent(1); },
      e: function () {
        const i = currentCommit();
        if (i < 0) { say("the hunk is in no commit", true); return; }
        hs.undos.push(snapshot());
        const input = item().querySelectorAll("#hunk-editor [name=hunk-description]")[i];
        input.focus();
        input.select();
      },
    };
    const action = actions[e.key];
    if (action) { e.preventDefault(); action(); }
  }

  document.addEventListener("input", function (e) {
    if (!hs || e.target.name !== "hunk-description") return;
    const li = e.target.closest("li");
    hs.commits[Number(li.dataset.commit)].description = e.target.value;
  });

  // ---- wiring ---------------------------------------------------------------------

  document.addEventListener("click", function (e) {
    const btn = e.target.closest ? e.target.closest("[data-action=merge]") : null;
    if (btn) { e.preventDefault(); merge(btn.closest(".edit-commit")); }
  });

  document.addEventListener("input", updatePreview);
  document.addEventListener("change", updatePreview);

  document.addEventListener("keydown", function (e) {
    if (e.defaultPrevented) return;
    if (e.key === "Escape" && mode !== "view" && !(mode === "hunks" && e.target.name === "hunk-description")) {
      e.preventDefault(); cancelMode(); return;
    }
    if (!item() || slot.hidden) {
      if (e.key === "u" && !isTyping(e.target)) { e.preventDefault(); undo(); }
      return;
    }
    if (mode === "correct") { onEditorKey(e); return; }
    if (mode === "hunks") { onHunkKey(e); return; }
    if (mode === "reject") { onRejectKey(e); return; }
    if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    const actions = {
      a: function () { submit("accept"); },
      r: openReject,
      c: openEditor,
      g: openHunks,
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
