// Smarketing Bot local workspace. Plain JavaScript, no build step.
//
// The server renders every message to HTML (escaped there); this script places it, polls for
// what changed since its cursor (new posts, messages updated in place), and turns clicks and
// the command box into calls to the JSON API.
"use strict";

(function () {
  const S = JSON.parse(document.getElementById("initial-state").textContent);
  const $ = (id) => document.getElementById(id);
  const people = new Map(S.people.map((p) => [p.id, p]));
  const convs = new Map(S.conversations.map((c) => [c.id, c]));
  const POLL_MS = 1000;

  const view = {
    me: null,
    conv: null,
    cursor: S.cursor,
    oldest: null,
    hasMore: false,
    loadingOlder: false,
    gen: 0, // bumped on every conversation switch; late answers for an old one are dropped
    unread: new Map(), // conversation id -> Set of message ids
    read: new Set(), // message ids already seen: a feed that sends them again (a held post keeps its cursor back) marks nothing
    clock: S.clock,
    polling: false,
    polls: 0,
    timer: null,
    history: [],
    historyAt: 0,
  };

  // -- the API -------------------------------------------------------------------------------
  async function api(method, path, body) {
    const opts = { method, headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (e) {
      throw new Error("The server is not answering. Is `python -m bot` still running?");
    }
    let data = null;
    try { data = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) {
      const err = new Error((data && data.error) || `The server answered ${resp.status}.`);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  // -- small helpers -------------------------------------------------------------------------
  function el(html) {
    const t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  function text(node, value) { node.textContent = value; return node; }

  function toast(message, kind) {
    const node = text(document.createElement("div"), message);
    node.className = "toast" + (kind ? " " + kind : "");
    $("toasts").appendChild(node);
    setTimeout(() => node.remove(), kind === "error" ? 7000 : 4500);
  }

  function tz() { return (view.me && view.me.timezone) || "UTC"; }

  function fmt(iso, options) {
    try {
      return new Intl.DateTimeFormat("en-US", { timeZone: tz(), ...options }).format(new Date(iso));
    } catch (e) {
      return iso;
    }
  }

  // -- who I am -------------------------------------------------------------------------------
  function buildPicker() {
    const select = $("me");
    const groups = { sales: "Sales", marketing: "Marketing" };
    for (const [team, label] of Object.entries(groups)) {
      const group = document.createElement("optgroup");
      group.label = label;
      for (const p of S.people.filter((x) => x.team === team)) {
        const opt = document.createElement("option");
        opt.value = String(p.id);
        opt.textContent = `${p.name} · ${p.role_label}`;
        group.appendChild(opt);
      }
      if (group.children.length) select.appendChild(group);
    }
    select.addEventListener("change", () => setMe(Number(select.value), true));
  }

  function setMe(id, announce) {
    const person = people.get(id) || people.get(S.default_person) || S.people[0];
    if (!person) return;
    const changed = !view.me || view.me.id !== person.id;
    view.me = person;
    $("me").value = String(person.id);
    text($("me-name"), person.name);
    try { localStorage.setItem("smarketing.me", String(person.id)); } catch (e) { /* private mode */ }
    document.querySelectorAll(".conv-you").forEach((n) => n.remove());
    const mine = document.querySelector(`.conv-list a[data-conv="dm:${person.id}"] .conv-name`);
    if (mine) mine.insertAdjacentElement("afterend", text(Object.assign(document.createElement("span"), { className: "conv-you" }), "you"));
    renderClock();
    formatTimes(document);
    if (changed && announce) toast(`Now acting as ${person.name} (${person.role_label}, ${person.timezone}).`);
  }

  // -- the sidebar ----------------------------------------------------------------------------
  function buildSidebar() {
    for (const c of S.conversations) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "#" + c.id;
      a.dataset.conv = c.id;
      if (c.kind === "channel") {
        a.appendChild(text(Object.assign(document.createElement("span"), { className: "hash" }), "#"));
      } else {
        const p = people.get(c.person_id);
        const av = text(document.createElement("span"), p ? p.initials : "?");
        av.className = "mini-avatar team-" + (p ? p.team : "sales");
        a.appendChild(av);
      }
      a.appendChild(text(Object.assign(document.createElement("span"), { className: "conv-name" }), c.name));
      const badge = Object.assign(document.createElement("span"), { className: "badge", hidden: true });
      a.appendChild(badge);
      li.appendChild(a);
      $(c.kind === "channel" ? "channels" : "dms").appendChild(li);
    }
  }

  function markUnread(conv, id) {
    if (conv === view.conv || view.read.has(id)) return;
    if (!view.unread.has(conv)) view.unread.set(conv, new Set());
    view.unread.get(conv).add(id);
    paintBadge(conv);
  }

  function paintBadge(conv) {
    const a = document.querySelector(`.conv-list a[data-conv="${CSS.escape(conv)}"]`);
    if (!a) return;
    const n = (view.unread.get(conv) || new Set()).size;
    const badge = a.querySelector(".badge");
    badge.hidden = n === 0;
    badge.textContent = n > 99 ? "99+" : String(n);
    a.classList.toggle("unread", n > 0);
  }

  // -- a conversation ------------------------------------------------------------------------
  async function openConversation(id) {
    if (!convs.has(id)) id = S.default_conversation;
    const conv = convs.get(id);
    view.gen += 1;
    const gen = view.gen;
    view.conv = id;
    view.oldest = null;
    view.hasMore = false;
    for (const seen of view.unread.get(id) || []) view.read.add(seen);
    view.unread.delete(id);
    paintBadge(id);
    document.querySelectorAll(".conv-list a").forEach((a) => a.classList.toggle("active", a.dataset.conv === id));
    text($("conv-title"), conv.kind === "channel" ? "#" + conv.name : conv.name);
    text($("conv-about"), conv.about || "");
    document.title = `${conv.kind === "channel" ? "#" + conv.name : conv.name} · ${S.company}`;
    $("list").replaceChildren();
    $("older").hidden = true;
    $("conv-start").hidden = true;
    $("new-pill").hidden = true;
    if (conv.kind === "dm" && view.me && view.me.id !== conv.person_id) setMe(conv.person_id, true);
    let data;
    try {
      data = await api("GET", `/local/api/messages?conversation=${encodeURIComponent(id)}`);
    } catch (e) {
      toast(e.message, "error");
      return;
    }
    if (gen !== view.gen) return;
    // Poll from no later than this page's view of the feed: nothing delivered after it is missed.
    view.cursor = Math.min(view.cursor, data.cursor);
    view.hasMore = data.has_more;
    place(data.messages, { scroll: "bottom" });
    paintEdges();
  }

  function paintEdges() {
    $("older").hidden = !view.hasMore;
    const start = $("conv-start");
    start.hidden = view.hasMore;
    if (!view.hasMore) {
      const conv = convs.get(view.conv);
      start.replaceChildren(
        text(document.createElement("h2"), conv.kind === "channel" ? "#" + conv.name : conv.name),
        text(document.createElement("div"), view.oldest === null
          ? "No messages yet. Move time on or simulate the CRM (on the right) to see the bot at work."
          : "This is the very beginning of the conversation."),
      );
    }
  }

  function atBottom() {
    const m = $("messages");
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToBottom() {
    const m = $("messages");
    m.scrollTop = m.scrollHeight;
    $("new-pill").hidden = true;
  }

  // Put messages in id order; a message already shown is replaced when its content changed.
  function place(messages, opts) {
    if (!messages.length) return;
    const list = $("list");
    const wasAtBottom = atBottom();
    let appended = false;
    for (const m of messages) {
      const existing = list.querySelector(`.msg[data-id="${m.id}"]`);
      if (existing) {
        if (existing.dataset.hash !== m.hash) {
          const node = el(m.html);
          node.dataset.hash = m.hash;
          node.classList.add("flash");
          existing.replaceWith(node);
          formatTimes(node);
        }
        continue;
      }
      if (!opts.older && view.oldest !== null && m.id < view.oldest) continue; // not loaded yet
      view.read.add(m.id);
      const node = el(m.html);
      node.dataset.hash = m.hash;
      formatTimes(node);
      let before = null;
      for (const other of list.querySelectorAll(".msg[data-id]")) {
        if (Number(other.dataset.id) > m.id) { before = other; break; }
      }
      if (before) list.insertBefore(node, before);
      else { list.appendChild(node); appended = true; }
      if (opts.live) node.classList.add("flash");
      view.oldest = view.oldest === null ? m.id : Math.min(view.oldest, m.id);
    }
    paintDays();
    if (opts.scroll === "bottom" || (appended && wasAtBottom)) scrollToBottom();
    else if (appended && opts.live) $("new-pill").hidden = false;
  }

  function formatTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((t) => {
      if (!t.getAttribute("datetime")) return;
      t.textContent = fmt(t.getAttribute("datetime"), { hour: "numeric", minute: "2-digit" });
      t.title = fmt(t.getAttribute("datetime"), { dateStyle: "full", timeStyle: "short" }) + ` (${tz()})`;
    });
    // Moments in a message's text: in the viewer's (the person acted as) timezone.
    root.querySelectorAll("time.moment[data-at]").forEach((t) => {
      const style = t.dataset.style;
      const opts = style === "date" ? { weekday: "short", day: "numeric", month: "short" }
        : style === "time" ? { hour: "2-digit", minute: "2-digit", timeZoneName: "short" }
        : { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
      t.textContent = fmt(t.dataset.at, opts);
    });
  }

  function paintDays() {
    const list = $("list");
    list.querySelectorAll(".day").forEach((d) => d.remove());
    let last = null;
    for (const node of list.querySelectorAll(".msg[data-id]")) {
      const iso = node.querySelector("time[datetime]")?.getAttribute("datetime");
      if (!iso) continue;
      const day = fmt(iso, { weekday: "long", month: "long", day: "numeric" });
      if (day !== last) {
        const sep = el(`<div class="day"><span></span></div>`);
        text(sep.firstElementChild, day);
        list.insertBefore(sep, node);
        last = day;
      }
    }
  }

  async function loadOlder() {
    if (view.loadingOlder || !view.hasMore || view.oldest === null) return;
    view.loadingOlder = true;
    const gen = view.gen;
    const m = $("messages");
    try {
      const data = await api("GET", `/local/api/messages?conversation=${encodeURIComponent(view.conv)}&before=${view.oldest}`);
      if (gen !== view.gen) return;
      const height = m.scrollHeight;
      const top = m.scrollTop;
      view.hasMore = data.has_more;
      place(data.messages, { older: true });
      m.scrollTop = top + (m.scrollHeight - height);
      paintEdges();
    } catch (e) {
      toast(e.message, "error");
    } finally {
      view.loadingOlder = false;
    }
  }

  // -- keeping up --------------------------------------------------------------------------
  function schedulePoll(ms) {
    clearTimeout(view.timer);
    view.timer = setTimeout(poll, ms);
  }

  function pollSoon() {
    setTimeout(poll, 120);
    setTimeout(poll, 500);
  }

  async function poll() {
    if (view.polling || view.conv === null) return schedulePoll(POLL_MS);
    view.polling = true;
    const gen = view.gen;
    let more = false;
    try {
      const data = await api("GET", `/local/api/changes?after=${view.cursor}&conversation=${encodeURIComponent(view.conv)}`);
      setStatus(true);
      view.clock = data.clock;
      renderClock();
      if (gen === view.gen) {
        view.polls += 1;
        if (view.polls % 15 === 0) refreshLatest(gen);
        view.cursor = Math.max(view.cursor, data.cursor);
        place(data.messages, { live: true });
        for (const p of data.elsewhere) markUnread(p.conversation, p.id);
        if (data.messages.length && view.oldest !== null) paintEdges();
        more = data.more;
      }
    } catch (e) {
      setStatus(false, e.message);
    } finally {
      view.polling = false;
      schedulePoll(more ? 0 : POLL_MS);
    }
  }

  // Belt and braces for the cursor: now and then re-read the newest page of the open
  // conversation (a message committed out of id order on PostgreSQL would otherwise wait for a reload).
  async function refreshLatest(gen) {
    try {
      const data = await api("GET", `/local/api/messages?conversation=${encodeURIComponent(view.conv)}`);
      if (gen === view.gen) place(data.messages, { live: true });
    } catch (e) { /* the next poll reports trouble */ }
  }

  function setStatus(ok, why) {
    $("status-dot").className = "status-dot " + (ok ? "ok" : "bad");
    text($("status-text"), ok ? "Live: new messages appear by themselves" : why || "Offline");
  }

  function renderClock() {
    const c = view.clock;
    if (!c || !view.me) return;
    text($("sim-now"), fmt(c.now, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }) +
      ` (${view.me.timezone.split("/").pop().replace(/_/g, " ")})`);
    text($("sim-ahead"), c.ahead);
    text($("clock-big"), fmt(c.now, { weekday: "long", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }));
    const teams = $("clock-teams");
    teams.replaceChildren(...c.teams.map((t) => {
      const li = document.createElement("li");
      li.append(text(document.createElement("span"), `${t.team[0].toUpperCase()}${t.team.slice(1)} · ${t.city}`),
        text(document.createElement("b"), t.label));
      return li;
    }));
  }

  // -- acting ----------------------------------------------------------------------------------
  function answer(result) {
    if (!result) return;
    if (result.ephemeral) {
      const node = el(result.ephemeral);
      formatTimes(node);
      $("list").appendChild(node);
      scrollToBottom();
    }
    if (result.form) openModal(result.form);
  }

  async function runCommand(raw) {
    let words = raw.trim();
    if (!view.me) return;
    if (words.startsWith("/") && !/^\/smarketing\b/i.test(words)) {
      toast(`Only ${S.command} commands run here.`, "error");
      return;
    }
    const button = $("send");
    button.disabled = true;
    try {
      answer(await api("POST", "/local/api/command", { person_id: view.me.id, text: words }));
      pollSoon();
    } catch (e) {
      toast(e.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  async function press(button) {
    const msg = button.closest(".msg");
    if (!msg || !view.me) return;
    button.disabled = true;
    button.classList.add("busy");
    try {
      answer(await api("POST", "/local/api/action", {
        person_id: view.me.id,
        key: msg.dataset.key || null,
        action: button.dataset.action,
        value: button.dataset.value || "",
      }));
    } catch (e) {
      toast(e.message, "error");
    } finally {
      button.disabled = false;
      button.classList.remove("busy");
      pollSoon();
    }
  }

  // -- forms -----------------------------------------------------------------------------------
  let lastFocus = null;

  function openModal(html) {
    lastFocus = document.activeElement;
    const box = $("modal-box");
    box.innerHTML = html; // rendered and escaped by the server
    formatTimes(box);
    $("modal").hidden = false;
    const first = box.querySelector("input, select, textarea");
    (first || box.querySelector(".modal-close")).focus();
  }

  function closeModal() {
    $("modal").hidden = true;
    $("modal-box").replaceChildren();
    if (lastFocus && lastFocus.focus) lastFocus.focus();
  }

  function showErrors(form, errors, general) {
    form.querySelectorAll(".field").forEach((f) => f.classList.remove("invalid"));
    form.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    const top = form.querySelector(".form-error");
    top.hidden = !general;
    top.textContent = general || "";
    let first = null;
    for (const [name, problem] of Object.entries(errors || {})) {
      const slot = form.querySelector(`.field-error[data-error-for="${CSS.escape(name)}"]`);
      if (!slot) { top.hidden = false; top.textContent = `${name}: ${problem}`; continue; }
      slot.hidden = false;
      slot.textContent = problem;
      slot.closest(".field").classList.add("invalid");
      first = first || slot.closest(".field").querySelector("input, select, textarea");
    }
    if (first) first.focus();
  }

  async function submitForm(form) {
    const values = {};
    const datetimes = [];
    const missing = {};
    for (const input of form.querySelectorAll("input[name], select[name], textarea[name]")) {
      const value = input.value.trim() === "" ? null : input.value;
      values[input.name] = value;
      if (input.type === "datetime-local") datetimes.push(input.name);
      if (input.required && value === null) missing[input.name] = "Please fill in this field.";
    }
    if (Object.keys(missing).length) return showErrors(form, missing);
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const result = await api("POST", "/local/api/form", {
        person_id: view.me.id, action: form.dataset.action, state: form.dataset.state || "", values, datetimes,
      });
      if ((result.errors && Object.keys(result.errors).length) || result.form_error) {
        showErrors(form, result.errors, result.form_error);
        return;
      }
      closeModal();
      answer(result);
      pollSoon();
    } catch (e) {
      showErrors(form, {}, e.message);
    } finally {
      submit.disabled = false;
    }
  }

  // -- the demo controls --------------------------------------------------------------------
  async function moveClock(button) {
    const buttons = document.querySelectorAll("[data-clock]");
    buttons.forEach((b) => { b.disabled = true; });
    const label = button.textContent;
    button.textContent = "Moving time…";
    try {
      const result = await api("POST", "/local/api/clock", { to: button.dataset.clock });
      view.clock = result.clock;
      renderClock();
      toast(result.notice);
      pollSoon();
    } catch (e) {
      toast(e.message, "error");
    } finally {
      button.textContent = label;
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  async function simulate(button) {
    button.disabled = true;
    try {
      const result = await api("POST", "/local/api/simulate", { what: button.dataset.simulate });
      toast(result.notice);
      pollSoon();
    } catch (e) {
      toast(e.message, "error");
    } finally {
      button.disabled = false;
    }
  }

  // -- a spreadsheet dropped on the page -------------------------------------------------------
  async function importFile(file) {
    if (!file) return;
    const zone = $("dropzone");
    const box = $("import-result");
    const dry = $("import-dry").checked;
    const params = new URLSearchParams({ filename: file.name, dry_run: dry ? "1" : "0" });
    if ($("import-kind").value) params.set("kind", $("import-kind").value);
    zone.classList.add("busy");
    box.hidden = false;
    box.replaceChildren(text(document.createElement("p"), `${dry ? "Checking" : "Importing"} ${file.name}…`));
    let result;
    try {
      const resp = await fetch(`/local/api/import?${params}`, {
        method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file,
      });
      let data = null;
      try { data = await resp.json(); } catch (e) { /* not JSON */ }
      if (!resp.ok) throw new Error((data && data.error) || `The server answered ${resp.status}.`);
      result = data;
    } catch (e) {
      const p = text(document.createElement("p"), e.message || "The server is not answering.");
      p.className = "summary bad";
      box.replaceChildren(p);
      toast(e.message, "error");
      return;
    } finally {
      zone.classList.remove("busy");
      $("import-file").value = "";
    }
    showImport(result, file.name);
    if (!result.dry_run) pollSoon();
  }

  function showImport(r, name) {
    const box = $("import-result");
    const head = text(document.createElement("p"), (r.dry_run ? "Check only, nothing written: " : "") + r.summary);
    head.className = "summary" + (r.error_rows || r.stopped ? " bad" : "");
    const about = text(document.createElement("p"), `${name}: ${r.rows} rows, read as ${r.kind} (${r.guessed_by}).`);
    const parts = [head, about];
    const notes = [...r.warnings, ...(r.stopped ? [r.stopped] : [])];
    if (notes.length) {
      const ul = document.createElement("ul");
      ul.className = "notes";
      for (const n of notes) ul.appendChild(text(document.createElement("li"), n));
      parts.push(ul);
    }
    if (r.errors.length) {
      const table = document.createElement("table");
      table.className = "import-errors";
      const headRow = table.createTHead().insertRow();
      for (const h of ["Row", "Column", "Problem"]) headRow.appendChild(text(document.createElement("th"), h));
      const body = table.createTBody();
      for (const e of r.errors.slice(0, 50)) {
        const tr = body.insertRow();
        text(tr.insertCell(), String(e.row)).className = "row";
        text(tr.insertCell(), e.column);
        text(tr.insertCell(), e.value ? `${e.problem} (${e.value})` : e.problem);
      }
      parts.push(table);
      const csv = ["row,id,column,value,problem", ...r.errors.map((e) =>
        [e.row, e.id, e.column, e.value, e.problem].map((v) => `"${String(v).replace(/"/g, '""')}"`).join(","))].join("\n");
      const link = text(document.createElement("a"), r.errors_total > r.errors.length
        ? `Download the first ${r.errors.length} of ${r.errors_total} problems (CSV)` : "Download the problems (CSV)");
      link.href = URL.createObjectURL(new Blob([csv + "\n"], { type: "text/csv" }));
      link.download = name.replace(/\.[^.]+$/, "") + ".errors.csv";
      parts.push(link);
    }
    box.replaceChildren(...parts);
    if (!r.dry_run) toast(`${name}: ${r.summary}`);
  }

  function wireImport() {
    const zone = $("dropzone");
    $("import-choose").addEventListener("click", () => $("import-file").click());
    $("import-file").addEventListener("change", (e) => importFile(e.target.files[0]));
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files");
    // The whole page takes a dropped file (the browser would otherwise open it in place of the page).
    document.addEventListener("dragenter", (e) => {
      if (!hasFiles(e)) return;
      depth += 1;
      document.body.classList.add("dragging");
    });
    document.addEventListener("dragleave", (e) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (!depth) document.body.classList.remove("dragging");
    });
    document.addEventListener("dragover", (e) => { if (hasFiles(e)) e.preventDefault(); });
    document.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      document.body.classList.remove("dragging");
      zone.classList.remove("over");
      importFile(e.dataTransfer.files[0]);
    });
    zone.addEventListener("dragover", () => zone.classList.add("over"));
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  }

  // -- wiring --------------------------------------------------------------------------------
  function wire() {
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      const input = $("command");
      const value = input.value;
      if (!value.trim()) { input.focus(); return; }
      view.history.push(value);
      view.historyAt = view.history.length;
      input.value = "";
      runCommand(value);
    });
    $("command").addEventListener("keydown", (e) => {
      if (e.key === "ArrowUp" && view.historyAt > 0) {
        view.historyAt -= 1;
        e.target.value = view.history[view.historyAt];
        e.preventDefault();
      } else if (e.key === "ArrowDown" && view.historyAt < view.history.length) {
        view.historyAt += 1;
        e.target.value = view.history[view.historyAt] || "";
        e.preventDefault();
      }
    });
    $("list").addEventListener("click", (e) => {
      const dismiss = e.target.closest(".dismiss");
      if (dismiss) { dismiss.closest(".msg").remove(); return; }
      const button = e.target.closest("[data-action]");
      if (!button) return;
      if (button.tagName !== "A") e.preventDefault();
      press(button);
    });
    $("load-older").addEventListener("click", loadOlder);
    $("messages").addEventListener("scroll", () => {
      if ($("messages").scrollTop < 120) loadOlder();
      if (atBottom()) $("new-pill").hidden = true;
    });
    $("new-pill").addEventListener("click", scrollToBottom);
    $("modal").addEventListener("click", (e) => {
      if (e.target === $("modal") || e.target.closest(".modal-close, .modal-cancel")) closeModal();
    });
    $("modal").addEventListener("submit", (e) => {
      e.preventDefault();
      submitForm(e.target);
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !$("modal").hidden) closeModal();
    });
    document.querySelectorAll("[data-clock]").forEach((b) => b.addEventListener("click", () => moveClock(b)));
    document.querySelectorAll("[data-simulate]").forEach((b) => {
      if (!S.flows.events.includes(b.dataset.needs)) {
        b.disabled = true;
        b.title = `No flow in this version handles ${b.dataset.needs} events yet.`;
      }
      b.addEventListener("click", () => simulate(b));
    });
    document.querySelectorAll("[data-run]").forEach((b) => b.addEventListener("click", () => runCommand(b.dataset.run)));
    document.querySelectorAll("[data-fill]").forEach((b) => b.addEventListener("click", () => {
      const input = $("command");
      input.value = `${S.command} ${b.dataset.fill}`;
      input.focus();
    }));
    window.addEventListener("hashchange", () => openConversation(decodeURIComponent(location.hash.slice(1))));
    wireImport();
  }

  function start() {
    buildPicker();
    buildSidebar();
    wire();
    let saved = null;
    try { saved = Number(localStorage.getItem("smarketing.me")); } catch (e) { /* private mode */ }
    setMe(people.has(saved) ? saved : S.default_person, false);
    renderClock();
    openConversation(decodeURIComponent(location.hash.slice(1)) || S.default_conversation);
    schedulePoll(POLL_MS);
  }

  start();
})();
