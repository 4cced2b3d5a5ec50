// Keyboard shortcuts for the reader; every page works without them.
//   j / k  next / previous item      o (or Enter)  open it
//   m      mark the story read       l             label (the form, or the selected report's)
//   /      search
(function () {
  "use strict";
  let at = -1;
  const items = () => Array.from(document.querySelectorAll("[data-item]"));

  function select(n) {
    const all = items();
    if (!all.length) return;
    at = Math.max(0, Math.min(n, all.length - 1));
    all.forEach((el, i) => el.classList.toggle("selected", i === at));
    all[at].scrollIntoView({ block: "nearest" });
  }

  function selected() {
    const all = items();
    return at >= 0 && at < all.length ? all[at] : null;
  }

  function openSelected() {
    const item = selected();
    const link = item && item.querySelector("a[data-open]");
    if (link) window.location.assign(link.href);
  }

  function markRead() {
    const item = selected();
    const form = (item && item.querySelector("form[data-mark]")) ||
      document.querySelector("form[data-mark]");
    if (form) form.submit();
  }

  function label() {
    const form = document.getElementById("label");
    if (form) {
      form.scrollIntoView({ block: "start" });
      const first = form.querySelector("input[type=radio]");
      if (first) first.focus();
      return;
    }
    const item = selected();
    const link = item && item.querySelector('a[href^="/articles/"]');
    if (link) window.location.assign(link.getAttribute("href") + "#label");
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape" && target.blur) target.blur();
      return;
    }
    switch (event.key) {
      case "j": select(at + 1); break;
      case "k": select(at - 1); break;
      case "o": case "Enter": if (selected()) openSelected(); else return; break;
      case "m": markRead(); break;
      case "l": label(); break;
      case "/": {
        const box = document.getElementById("q");
        if (box) { box.focus(); box.select(); }
        break;
      }
      default: return;
    }
    event.preventDefault();
  });
})();
