// Folio's only script: keeps "x minutes ago" labels current between polls, and lets the
// add-holding form's symbol suggestions be picked from the keyboard or with the mouse.
// No inline scripts anywhere (the Content-Security-Policy forbids them).
(function () {
  function ago(seconds) {
    if (seconds < 60) return "just now";
    const units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (const [unit, size] of units) {
      if (seconds >= size) {
        const n = Math.floor(seconds / size);
        return n + " " + unit + (n === 1 ? "" : "s") + " ago";
      }
    }
    return "just now";
  }
  function refreshAges() {
    document.querySelectorAll("td.age time[datetime]").forEach(function (el) {
      const t = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(t)) el.textContent = ago(Math.max(0, (Date.now() - t) / 1000));
    });
  }
  setInterval(refreshAges, 30000);
})();

// Symbol suggestions (accounts/_symbol_suggestions.html): an ARIA combobox. htmx fills the
// listbox as the user types; ArrowDown/ArrowUp move through the options, Enter or a click
// picks one (its symbol and asset type go into the form), Escape closes the list. Without a
// highlighted option Enter submits the form as always.
(function () {
  function field() { return document.querySelector("input[data-suggest]"); }
  function listbox() { return document.getElementById("symbol-listbox"); }
  function options() {
    const box = listbox();
    return box ? Array.from(box.querySelectorAll('[role="option"]')) : [];
  }
  function highlight(input, index) {
    const opts = options();
    opts.forEach(function (opt, i) { opt.setAttribute("aria-selected", i === index ? "true" : "false"); });
    if (index >= 0 && opts[index]) {
      input.setAttribute("aria-activedescendant", opts[index].id);
      opts[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }
  function close(input) {
    const box = listbox();
    if (box) { box.replaceChildren(); box.hidden = true; }
    document.querySelectorAll("#symbol-suggestions .suggestions-note").forEach(function (n) { n.remove(); });
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }
  function pick(input, option) {
    input.value = option.dataset.symbol || input.value;
    const form = input.form;
    const type = form && form.elements.namedItem("asset_type");
    const wanted = option.dataset.assetType;
    if (type && wanted && Array.from(type.options || []).some(function (o) { return o.value === wanted; })) {
      type.value = wanted;
    }
    const currency = form && form.elements.namedItem("currency");  // only if the form has one
    if (currency && option.dataset.currency) currency.value = option.dataset.currency;
    close(input);
    input.focus();
  }

  document.addEventListener("keydown", function (event) {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.hasAttribute("data-suggest")) return;
    const opts = options();
    const current = opts.findIndex(function (o) { return o.getAttribute("aria-selected") === "true"; });
    if (event.key === "ArrowDown" && opts.length) {
      event.preventDefault();
      highlight(input, (current + 1) % opts.length);
    } else if (event.key === "ArrowUp" && opts.length) {
      event.preventDefault();
      highlight(input, current <= 0 ? opts.length - 1 : current - 1);
    } else if (event.key === "Enter" && current >= 0) {
      event.preventDefault();  // pick, do not submit yet
      pick(input, opts[current]);
    } else if (event.key === "Escape" && (opts.length || input.getAttribute("aria-expanded") === "true")) {
      event.preventDefault();
      close(input);
    }
  });

  document.addEventListener("click", function (event) {
    const option = event.target instanceof Element && event.target.closest('#symbol-listbox [role="option"]');
    const input = field();
    if (option && input) pick(input, option);
  });

  // after htmx swapped in new suggestions: tell assistive technology whether the list is open
  document.addEventListener("htmx:afterSettle", function () {
    const input = field();
    if (!input) return;
    input.setAttribute("aria-expanded", options().length ? "true" : "false");
    input.removeAttribute("aria-activedescendant");
  });
})();

// The Undo offer of a delete (_undo.html): it goes away when its window is over (its end is
// data-undo-until, epoch milliseconds, set by the server), on the page it was drawn on and on
// any page htmx swaps it into. Without JavaScript the server stops drawing it after the window.
(function () {
  function arm(root) {
    (root || document).querySelectorAll("[data-undo-until]").forEach(function (el) {
      if (el.dataset.undoArmed) return;
      el.dataset.undoArmed = "1";
      const left = Number(el.dataset.undoUntil) - Date.now();
      setTimeout(function () { el.remove(); }, Math.max(0, left));
    });
  }
  document.addEventListener("DOMContentLoaded", function () { arm(document); });
  document.addEventListener("htmx:afterSettle", function (event) { arm(event.target); });
})();
