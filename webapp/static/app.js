// Folio's only script: keeps "x minutes ago" labels current between polls.
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
