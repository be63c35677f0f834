// Interactive charts: uPlot (vendored, uPlot-1.6.32.iife.min.js) takes over from a server-rendered
// SVG where the page offers its data in <div class="interactive-chart"><script type="application/json">.
// Without JavaScript the SVG stays. The hover readout prints the texts the server formatted from
// exact decimals (the numbers here only place the points); colours follow the app's palette
// (app.css custom properties, light or dark). No inline script or style attribute (the CSP).
(function () {
  "use strict";
  var DAY = 86400;
  var chosen = {};  // chart id -> the range button last chosen (kept when htmx redraws the chart)

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function translucent(color, alpha) {
    var m = /^#([0-9a-f]{6})$/i.exec(color);
    if (!m) return color;
    var n = parseInt(m[1], 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  // the first second of the range that ends with the last day: 1M 3M YTD 1Y All
  function rangeStart(key, first, last) {
    var end = new Date(last * 1000);
    var start = {
      "1M": last - 30 * DAY,
      "3M": last - 91 * DAY,
      "YTD": Date.UTC(end.getUTCFullYear(), 0, 1) / 1000,
      "1Y": last - 365 * DAY,
    }[key];
    return start === undefined ? first : Math.max(first, start);
  }

  function isoDay(seconds) {
    return new Date(seconds * 1000).toISOString().slice(0, 10);
  }

  function build(box) {
    var script = box.querySelector("script.chart-data");
    if (!script || box.dataset.ready) return;
    var data = JSON.parse(script.textContent);
    if (!data.x || data.x.length < 2 || typeof uPlot === "undefined") return;
    box.dataset.ready = "1";
    var id = box.id;
    var section = box.closest("section") || document;
    // an attribute, not el.hidden: an <svg> has no `hidden` property (app.css hides [hidden])
    section.querySelectorAll("[data-replaced-by-chart]").forEach(function (el) { el.setAttribute("hidden", ""); });
    box.hidden = false;

    var readout = document.createElement("p");
    readout.className = "chart-readout";
    readout.setAttribute("aria-live", "polite");
    var plotHolder = document.createElement("div");
    plotHolder.className = "chart-plot";

    var ranges = (box.dataset.ranges || "").split(" ").filter(Boolean);
    var buttons = [];
    if (ranges.length) {
      var bar = document.createElement("div");
      bar.className = "chart-ranges";
      bar.setAttribute("role", "group");
      bar.setAttribute("aria-label", box.dataset.rangesLabel || "Range");
      ranges.forEach(function (key) {
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = key;
        b.dataset.range = key;
        b.addEventListener("click", function () { show(key); });
        buttons.push(b);
        bar.appendChild(b);
      });
      box.appendChild(bar);
    }
    box.appendChild(plotHolder);
    box.appendChild(readout);

    var first = data.x[0], last = data.x[data.x.length - 1];
    var dashed = [null, [6, 4]];
    var colours = [css("--accent"), css("--muted")];

    function say(idx) {
      if (idx == null || idx < 0) idx = data.x.length - 1;
      var parts = data.series.map(function (s) {
        return (data.series.length > 1 ? s.label + " " : "") + (s.text[idx] == null ? "—" : s.text[idx]);
      });
      readout.textContent = data.days[idx] + ": " + parts.join(", ");
      readout.dataset.day = data.days[idx];
    }

    function options(width) {
      var fg = css("--muted"), grid = css("--line");
      var axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
      return {
        width: width,
        height: window.matchMedia("(max-width: 640px)").matches ? 180 : 240,
        legend: { show: false },
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
        cursor: { y: false, points: { size: 8 }, drag: { x: false, y: false } },
        scales: { x: { time: true } },
        axes: [Object.assign({}, axis), Object.assign({ size: 70 }, axis)],
        series: [{}].concat(data.series.map(function (s, i) {
          return {
            label: s.label, stroke: colours[i % 2], width: 2, dash: dashed[i % 2] || undefined, spanGaps: true,
            fill: i === 0 && data.series.length === 1 ? translucent(colours[0], 0.12) : undefined,
          };
        })),
        hooks: {
          setCursor: [function (u) { say(u.cursor.idx); }],
          setScale: [function (u, key) {
            if (key !== "x") return;
            box.dataset.from = isoDay(Math.max(first, u.scales.x.min));
            box.dataset.to = isoDay(Math.min(last, u.scales.x.max));
          }],
        },
      };
    }

    var columns = [data.x].concat(data.series.map(function (s) {
      return s.values.map(function (v) { return v == null ? null : Number(v); });  // to plot only
    }));
    var plot = new uPlot(options(plotHolder.clientWidth || box.clientWidth), columns, plotHolder);

    function show(key) {
      chosen[id] = key;
      plot.setScale("x", { min: rangeStart(key, first, last), max: last });
      buttons.forEach(function (b) { b.setAttribute("aria-pressed", b.dataset.range === key ? "true" : "false"); });
      box.dataset.range = key;
    }

    if (buttons.length) show(chosen[id] || box.dataset.range || ranges[ranges.length - 1]);
    else { box.dataset.from = data.days[0]; box.dataset.to = data.days[data.days.length - 1]; }
    say(null);

    new ResizeObserver(function () {
      var w = plotHolder.clientWidth;
      if (w && w !== plot.width) plot.setSize({ width: w, height: plot.height });
    }).observe(plotHolder);
    // the system switched between light and dark: draw again in the other palette
    var scheme = window.matchMedia("(prefers-color-scheme: dark)");
    var redraw = function () {
      if (!document.body.contains(box)) { scheme.removeEventListener("change", redraw); return; }
      var min = plot.scales.x.min, max = plot.scales.x.max;
      colours = [css("--accent"), css("--muted")];
      plot.destroy();
      plot = new uPlot(options(plotHolder.clientWidth), columns, plotHolder);
      plot.setScale("x", { min: min, max: max });
    };
    scheme.addEventListener("change", redraw);
  }

  function buildAll(root) {
    (root || document).querySelectorAll(".interactive-chart").forEach(build);
  }

  document.addEventListener("DOMContentLoaded", function () { buildAll(document); });
  // a chart htmx swapped in (a poll with a new value, another range)
  document.addEventListener("htmx:load", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.querySelectorAll) {
      if (elt.matches && elt.matches(".interactive-chart")) build(elt);
      buildAll(elt);
    }
  });
})();
