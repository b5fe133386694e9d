// passerelle: the pages' one script. Saves edits as the person types (each with the document
// heads the field was shown at, so the server merges instead of overwriting), and follows
// live updates from /live (Server-Sent Events) without reloading the page.
"use strict";

(function () {
  const SAVE_DELAY_MS = 400;
  const body = document.body;
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";

  // Per field path: {timer, saving, again}. A field is dirty while its text differs from
  // what was last saved (data-saved holds it).
  const fields = new Map();

  function docId() {
    const main = document.getElementById("main");
    return main ? main.dataset.doc : undefined;
  }

  function say(key, isError) {
    const status = document.getElementById("status");
    if (!status) return;
    status.textContent = body.dataset[key] || key;
    status.dataset.kind = isError ? "error" : key;
  }

  async function post(edit, doc) {
    const response = await fetch("/doc/" + encodeURIComponent(doc || docId()) + "/edit", {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      credentials: "same-origin",
      body: JSON.stringify(edit),
    });
    let answer = {};
    try { answer = await response.json(); } catch (_) { /* not JSON */ }
    if (!response.ok) throw new Error(answer.error || response.statusText);
    return answer;
  }

  function headsOf(el) {
    return (el.dataset.heads || "").split(",").filter(Boolean);
  }

  function isDirty(el) {
    return el.dataset.saved !== undefined && el.dataset.saved !== el.value;
  }

  async function saveField(el) {
    const path = el.dataset.field;
    const state = fields.get(path) || {};
    fields.set(path, state);
    if (state.saving) { state.again = true; return; }
    if (!isDirty(el)) return;
    state.saving = true;
    const value = el.value;
    say("saving");
    try {
      // A field of a list page (the journal) names its document itself.
      const answer = await post({ heads: headsOf(el), op: "set", path: path, value: value }, el.dataset.doc);
      // The field now shows `value` as of the heads of the edit's fork.
      const current = findField(path) || el;
      current.dataset.heads = answer.heads;
      current.dataset.saved = value;
      say("saved");
      // Show what others wrote meanwhile (merged with this edit), unless typing goes on.
      refresh();
    } catch (error) {
      say("failed", true);
      const status = document.getElementById("status");
      if (status) status.textContent += " : " + error.message;
    } finally {
      state.saving = false;
      if (state.again) {
        state.again = false;
        const current = findField(path);
        if (current) saveField(current);
      }
    }
  }

  function findField(path) {
    for (const el of document.querySelectorAll("[data-field]")) {
      if (el.dataset.field === path) return el;
    }
    return null;
  }

  function scheduleSave(el) {
    const path = el.dataset.field;
    const state = fields.get(path) || {};
    fields.set(path, state);
    clearTimeout(state.timer);
    state.timer = setTimeout(() => saveField(el), SAVE_DELAY_MS);
  }

  function bind(root) {
    for (const el of root.querySelectorAll("[data-field]")) {
      if (el.dataset.bound) continue;
      el.dataset.bound = "1";
      if (el.dataset.saved === undefined) el.dataset.saved = el.value;
      el.addEventListener("input", () => scheduleSave(el));
      el.addEventListener("blur", () => saveField(el));
    }
    for (const button of root.querySelectorAll("button[data-set]")) {
      button.addEventListener("click", async () => {
        button.disabled = true;
        say("saving");
        try {
          await post({
            heads: headsOf(button), op: button.dataset.op || "set",
            path: button.dataset.set, value: button.dataset.value,
          }, button.dataset.doc);
          say("saved");
          refresh();
        } catch (error) {
          button.disabled = false;
          say("failed", true);
        }
      });
    }
    // A checkbox sets a true/false field (`public`) as soon as it is ticked.
    for (const box of root.querySelectorAll("input[type=checkbox][data-toggle]")) {
      box.addEventListener("change", async () => {
        say("saving");
        try {
          await post({ heads: headsOf(box), op: "set", path: box.dataset.toggle, value: box.checked });
          say("saved");
          refresh();
        } catch (error) {
          box.checked = !box.checked;
          say("failed", true);
        }
      });
    }
    for (const form of root.querySelectorAll("form[data-insert]")) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const item = {};
        for (const input of form.querySelectorAll("input[name], textarea[name]")) {
          if (input.value.trim() !== "") item[input.name] = input.value.trim();
        }
        // The document: chosen in the form (several journals), named by it, or the page's.
        const chooser = form.querySelector("select[data-target-doc]");
        const doc = chooser ? chooser.value : form.dataset.doc;
        say("saving");
        try {
          await post({ op: "insert", path: form.dataset.insert, value: item }, doc);
          form.reset();
          say("saved");
          refresh();
        } catch (error) {
          say("failed", true);
        }
      });
    }
  }

  // Fetches this page again and puts its content in place. A field being edited keeps the
  // person's text (and the heads it was shown at) until it is saved.
  let refreshing = false;
  let refreshAgain = false;
  async function refresh() {
    if (refreshing) { refreshAgain = true; return; }
    refreshing = true;
    try {
      const response = await fetch(location.pathname + location.search, { credentials: "same-origin" });
      if (!response.ok) return;
      const html = await response.text();
      const fresh = new DOMParser().parseFromString(html, "text/html");
      const freshMain = fresh.getElementById("main");
      const main = document.getElementById("main");
      if (!freshMain || !main) return;
      const active = document.activeElement;
      const kept = new Map();
      for (const el of main.querySelectorAll("[data-field]")) {
        if (isDirty(el) || (el === active)) {
          kept.set(el.dataset.field, {
            value: el.value, heads: el.dataset.heads, saved: el.dataset.saved,
            dirty: isDirty(el), focused: el === active,
            start: el.selectionStart, end: el.selectionEnd,
          });
        }
      }
      main.innerHTML = freshMain.innerHTML;
      for (const el of main.querySelectorAll("[data-field]")) {
        const k = kept.get(el.dataset.field);
        if (!k) continue;
        if (k.dirty) {
          el.value = k.value;
          el.dataset.heads = k.heads;
          el.dataset.saved = k.saved;
        }
        if (k.focused) {
          el.focus();
          try { el.setSelectionRange(k.start, k.end); } catch (_) { /* not a text field */ }
        }
      }
      bind(main);
      const badge = fresh.getElementById("sync-state");
      const mine = document.getElementById("sync-state");
      if (badge && mine) mine.replaceWith(badge);
    } finally {
      refreshing = false;
      if (refreshAgain) { refreshAgain = false; refresh(); }
    }
  }

  function follow() {
    if (!body.dataset.live || typeof EventSource === "undefined") return;
    const events = new EventSource("/live");
    events.addEventListener("doc", (event) => {
      const shown = docId();
      if (!shown || shown === event.data) refresh();
    });
    events.addEventListener("sync", (event) => {
      const badge = document.getElementById("sync-state");
      if (!badge) return;
      const state = JSON.parse(event.data);
      badge.dataset.state = state.state;
      badge.dataset.unsynced = state.unsynced;
      badge.textContent = state.text;
    });
    events.addEventListener("refresh", () => refresh());
    // After a lost connection EventSource reconnects by itself; catch up with what moved.
    events.addEventListener("open", () => { if (body.dataset.followed) refresh(); body.dataset.followed = "1"; });
  }

  bind(document);
  follow();
})();
