// planner's HTML report: draws the charts described in #planner-data with Chart.js (inlined above),
// makes every table sortable (click a heading) and filterable (the box above it). No network.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("planner-data").textContent);
  var palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                 "#17becf"];
  var drawn = 0;

  function fmtBytes(b) {
    var units = [["TiB", Math.pow(1024, 4)], ["GiB", Math.pow(1024, 3)], ["MiB", Math.pow(1024, 2)]];
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(b) >= units[i][1]) { return (b / units[i][1]).toFixed(2) + " " + units[i][0]; }
    }
    return Math.round(b).toLocaleString() + " bytes";
  }

  function chart(canvas, spec) {
    var datasets = spec.series.map(function (s, k) {
      return {label: s.label, data: s.values, backgroundColor: s.color || palette[k % palette.length],
              borderColor: s.color || palette[k % palette.length], spanGaps: false, pointRadius: 3,
              stack: spec.stacked ? "all" : undefined, raw: s.raw, notes: s.notes};
    });
    new Chart(canvas, {
      type: spec.kind, data: {labels: spec.x, datasets: datasets},
      options: {
        animation: false, responsive: false, maintainAspectRatio: false,
        plugins: {
          title: {display: !!spec.title, text: spec.title},
          legend: {display: spec.series.length > 1},
          tooltip: {callbacks: {label: function (ctx) {
            var ds = ctx.dataset, raw = ds.raw ? ds.raw[ctx.dataIndex] : null;
            var text = ds.label + ": " + (raw !== null && raw !== undefined ? fmtBytes(raw) :
              (ctx.parsed.y === null ? "does not fit" : ctx.parsed.y.toLocaleString() + " " + (spec.unit || "")));
            var note = ds.notes ? ds.notes[ctx.dataIndex] : null;
            return note ? [text, note] : text;
          }}}
        },
        scales: {x: {stacked: !!spec.stacked, title: {display: true, text: spec.x_label}},
                 y: {stacked: !!spec.stacked, beginAtZero: true, max: spec.y_max || undefined,
                     title: {display: true, text: spec.y_label}}}
      }
    });
    drawn += 1;
  }

  (data.charts || []).forEach(function (group) {
    var host = document.getElementById(group.id);
    group.panels.forEach(function (spec) {
      var box = document.createElement("div");
      box.className = "panel";
      var canvas = document.createElement("canvas");
      canvas.width = group.width || 380;
      canvas.height = group.height || 260;
      box.appendChild(canvas);
      host.appendChild(box);
      chart(canvas, spec);
    });
  });

  document.querySelectorAll("table.data").forEach(function (table) {
    var body = table.tBodies[0];
    var filter = document.createElement("input");
    filter.type = "search";
    filter.placeholder = "filter rows";
    filter.className = "filter";
    table.parentNode.insertBefore(filter, table);
    filter.addEventListener("input", function () {
      var needle = filter.value.toLowerCase();
      Array.prototype.forEach.call(body.rows, function (row) {
        row.style.display = row.textContent.toLowerCase().indexOf(needle) >= 0 ? "" : "none";
      });
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () {
        var down = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(table.tHead.rows[0].cells, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", down ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-raw"), y = b.cells[col].getAttribute("data-raw");
          var nx = parseFloat(x), ny = parseFloat(y);
          var cmp = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
          return down ? cmp : -cmp;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.body.setAttribute("data-charts-drawn", String(drawn));
})();
