// perfkit site: sortable and filterable tables (progressive: every table
// reads fine without this), the history charts of series pages and the
// strip plots of change pages (uPlot).
// Sets window.perfkitReady once the page is drawn, and lists drawn charts in
// window.perfkitCharts ({id, points, series}) for tests and tools.
(function () {
  'use strict';
  window.perfkitCharts = window.perfkitCharts || [];

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return '';
    var raw = cell.hasAttribute('data-sort') ? cell.getAttribute('data-sort') : cell.textContent.trim();
    return /^[-+]?\d*\.?\d+(e[-+]?\d+)?$/i.test(raw) ? parseFloat(raw) : raw.toLowerCase();
  }

  function makeSortable(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, index) {
      var button = document.createElement('button');
      button.type = 'button';
      button.textContent = th.textContent;
      button.setAttribute('aria-label', 'Sort by ' + th.textContent);
      th.textContent = '';
      th.appendChild(button);
      button.addEventListener('click', function () {
        var ascending = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, index), y = cellValue(b, index);
          if (typeof x === 'number' && typeof y === 'number') return ascending ? x - y : y - x;
          x = String(x); y = String(y);
          return ascending ? x.localeCompare(y) : y.localeCompare(x);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  function makeFilter(input) {
    var table = document.getElementById(input.getAttribute('data-filter'));
    if (!table) return;
    input.addEventListener('input', function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        row.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
      });
    });
  }

  function safeUrl(url) {
    return typeof url === 'string' && /^https?:\/\//i.test(url) ? url : null;
  }

  function buildInfo(index) {
    var chunks = (window.perfkitData && window.perfkitData.builds) || {};
    var chunk = chunks[Math.floor(index / 2000)];
    if (!chunk) return null;
    var i = index - chunk.start;
    return { id: chunk.id[i], t: chunk.t[i], change: chunk.change[i], ps: chunk.ps[i],
             pipeline: chunk.pipeline[i], log: safeUrl(chunk.log[i]), url: safeUrl(chunk.url[i]) };
  }

  function showDetails(series, i) {
    var box = document.getElementById('point-details');
    var build = buildInfo(series.b[i]);
    if (!box || !build) return;
    box.textContent = '';
    var text = new Date(build.t).toISOString().replace('T', ' ').slice(0, 16) + ' UTC · ' +
      (build.pipeline || 'pipeline unknown') + (build.change ? ' · change ' + build.change + ',' + build.ps : '') +
      ' · median ' + fmtSeconds(series.median[i]) + ', p95 ' + fmtSeconds(series.p95[i]) +
      ', failed ' + Math.round(100 * (series.fail[i] || 0)) + ' % of ' + series.n[i] + ' ';
    box.appendChild(document.createTextNode(text));
    [['build log', build.log], ['change', build.url]].forEach(function (pair) {
      if (!pair[1]) return;
      var a = document.createElement('a');
      a.href = pair[1];
      a.textContent = pair[0];
      box.appendChild(document.createTextNode(' '));
      box.appendChild(a);
    });
  }

  function fmtSeconds(s) {
    if (s === null || s === undefined) return '–';
    if (s === 0) return '0';
    if (s < 1e-3) return (s * 1e6).toPrecision(3) + ' µs';
    if (s < 1) return (s * 1e3).toPrecision(3) + ' ms';
    return s.toPrecision(3) + ' s';
  }

  // Values in a series' unit: durations in µs/ms/s, rates with an SI
  // prefix (`75.8k IO/s`, `612 MB/s`), shares in %.
  function fmtUnit(unit) {
    if (unit === 's') return fmtSeconds;
    if (unit === '%') return function (v) { return v === null || v === undefined ? '–' : Number(v.toPrecision(2)) + ' %'; };
    return function (v) {
      if (v === null || v === undefined) return '–';
      var a = Math.abs(v), p = '', x = v;
      if (a >= 1e9) { x = v / 1e9; p = 'G'; } else if (a >= 1e6) { x = v / 1e6; p = 'M'; } else if (a >= 1e3) { x = v / 1e3; p = 'k'; }
      var n = Number(x.toPrecision(3));
      return unit.charAt(0) === 'B' ? n + ' ' + p + unit : n + p + ' ' + unit;
    };
  }

  function annotationPlugin(series, metric, xs) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          series.ann.forEach(function (a) {
            var own = a.metric === metric || (metric === 'duration' && a.kind === 'config_changed');
            if (!own || xs[a.i] === undefined) return;
            var x = Math.round(u.valToPos(xs[a.i], 'x', true));
            ctx.save();
            ctx.strokeStyle = a.kind === 'regression' ? '#a4001c' : a.kind === 'improvement' ? '#0a6b2d' : '#3d3d99';
            ctx.lineWidth = 2 * devicePixelRatio;
            ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.restore();
          });
        }]
      }
    };
  }

  function draw(el, series, xs, lines, metric, label) {
    var width = Math.max(320, el.clientWidth || 800);
    var opts = {
      width: width, height: 260,
      scales: { x: { time: true } },
      series: [{}].concat(lines.map(function (l) { return l.opts; })),
      axes: [{}, { values: function (u, ticks) { return ticks.map(lines[0].fmt); }, size: 70 }],
      plugins: [annotationPlugin(series, metric, xs)],
      cursor: { drag: { x: true, y: false } }
    };
    if (metric === 'duration') opts.bands = [{ series: [4, 3], fill: 'rgba(11,87,208,0.10)' }];
    var data = [xs].concat(lines.map(function (l) { return l.values; }));
    var plot = new uPlot(opts, data, el);
    plot.over.addEventListener('click', function () {
      if (plot.cursor.idx !== null && plot.cursor.idx !== undefined) showDetails(series, plot.cursor.idx);
    });
    var canvas = el.querySelector('canvas');
    if (canvas) {
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', label + ' over ' + xs.length + ' branch builds; the table below lists the recent values');
    }
    window.perfkitCharts.push({ id: el.id, points: xs.length, series: lines.length });
  }

  // A series' points come in chunks of builds (data/<id>-<n>.js, so a new
  // build rewrites only the last); joined here into one set of columns.
  function seriesData(id) {
    var data = window.perfkitData;
    var head = data && data.series[id];
    var parts = (data && data.points && data.points[id]) || {};
    if (!head) return null;
    var columns = ['b', 'median', 'p95', 'min', 'max', 'fail', 'n'];
    var series = { unit: head.unit, rate: head.rate, ann: head.ann, tput: head.tput ? [] : null };
    columns.forEach(function (c) { series[c] = []; });
    for (var k = 0; k < head.chunks; k++) {
      var part = parts[k];
      if (!part) return null;
      columns.forEach(function (c) { series[c] = series[c].concat(part[c]); });
      if (series.tput) {
        series.tput = series.tput.concat(part.tput || part.b.map(function () { return null; }));
      }
    }
    return series;
  }

  window.perfkitSeriesPage = function (id) {
    try {
      if (typeof uPlot !== 'undefined') drawRun(id);
      var series = seriesData(id);
      if (!series || typeof uPlot === 'undefined') return;
      var xs = series.b.map(function (b) { var info = buildInfo(b); return info ? info.t / 1000 : null; });
      var unit = series.unit || 's';
      var seconds = fmtUnit(unit);
      var byId = function (name) { return document.getElementById(name); };
      if (byId('chart-duration')) {
        draw(byId('chart-duration'), series, xs, [
          { opts: { label: 'median', stroke: '#0b57d0', width: 2, value: function (u, v) { return seconds(v); } }, values: series.median, fmt: seconds },
          { opts: { label: 'p95', stroke: '#b35c00', width: 1.5, value: function (u, v) { return seconds(v); } }, values: series.p95, fmt: seconds },
          { opts: { label: 'min', stroke: 'rgba(11,87,208,0.35)', width: 1, value: function (u, v) { return seconds(v); } }, values: series.min, fmt: seconds },
          { opts: { label: 'max', stroke: 'rgba(11,87,208,0.35)', width: 1, value: function (u, v) { return seconds(v); } }, values: series.max, fmt: seconds }
        ], 'duration', unit === 's' ? 'Median, p95 and min–max duration' : 'Value per build in ' + unit);
      }
      if (byId('chart-failures')) {
        var pct = series.fail.map(function (f) { return f === null ? null : 100 * f; });
        var fmtPct = function (v) { return v === null ? '–' : v.toFixed(0) + ' %'; };
        draw(byId('chart-failures'), series, xs, [
          { opts: { label: 'failed', stroke: '#a4001c', width: 2, value: function (u, v) { return fmtPct(v); } }, values: pct, fmt: fmtPct }
        ], 'failure_rate', 'Failed share of iterations');
      }
      if (byId('chart-throughput') && series.tput) {
        var fmtRate = function (v) { return v === null ? '–' : Number(v.toPrecision(3)) + (series.rate ? ' ' + series.rate : '/s'); };
        draw(byId('chart-throughput'), series, xs, [
          { opts: { label: 'throughput', stroke: '#0a6b2d', width: 2, value: function (u, v) { return fmtRate(v); } }, values: series.tput, fmt: fmtRate }
        ], 'throughput', 'Throughput in ' + (series.rate || 'iterations/s'));
      }
    } finally {
      window.perfkitReady = true;
    }
  };

  // A change page's strip plots: per flagged series, one column per build
  // (the baseline builds, then the patchset's), one dot per value, and a
  // dashed line at the baseline's median. `plots` comes from the page
  // itself: [{id, unit, status, base, nbase, cols, label}].
  var STATUS_COLOURS = { regression: '#a4001c', improvement: '#0a6b2d', inconclusive: '#b35c00' };

  function drawStrip(p) {
    var el = document.getElementById(p.id);
    if (!el || !Array.isArray(p.cols) || !p.cols.length) return;
    var fmt = fmtUnit(p.unit || 's');
    var n = p.cols.length, nbase = p.nbase;
    var dots = [];
    p.cols.forEach(function (col, i) {
      col.forEach(function (v, j) {
        // Spread a column's dots over its width, the same way every time
        // (golden-ratio steps), so equal values do not hide each other.
        var dx = col.length > 1 ? ((j * 0.6180339887) % 1 - 0.5) * 0.6 : 0;
        dots.push([i + dx, v, i >= nbase]);
      });
    });
    dots.sort(function (a, b) { return a[0] - b[0]; });
    var xs = dots.map(function (d) { return d[0]; });
    var colour = STATUS_COLOURS[p.status] || '#0b57d0';
    var value = function (u, v) { return fmt(v); };
    var only = function (fresh) { return dots.map(function (d) { return d[2] === fresh ? d[1] : null; }); };
    var name = function (i) {
      if (i < nbase) return i === 0 ? 'oldest' : (i === nbase - 1 ? 'newest' : '');
      return i === nbase ? 'new' : '+' + (i - nbase);
    };
    var opts = {
      width: Math.max(320, Math.min(720, el.clientWidth || 720)), height: 240,
      scales: { x: { time: false, range: function () { return [-0.6, n - 0.4]; } } },
      legend: { live: false },
      series: [
        { label: 'build' },
        { label: 'baseline builds', stroke: '#6b6b6b', paths: function () { return null; },
          points: { show: true, size: 5, width: 1, stroke: '#6b6b6b', fill: 'rgba(107,107,107,0.35)' }, value: value },
        { label: n - nbase > 1 ? "this patchset's builds" : "this patchset's build", stroke: colour, paths: function () { return null; },
          points: { show: true, size: 6, width: 1, stroke: colour, fill: colour }, value: value },
        { label: 'baseline median', stroke: '#1b1b1b', width: 1, dash: [5, 4], points: { show: false }, value: value }
      ],
      axes: [
        { splits: function () { var s = []; for (var i = 0; i < n; i++) s.push(i); return s; },
          values: function (u, splits) { return splits.map(name); }, grid: { show: false },
          label: 'baseline builds, oldest first, then this patchset’s' + (n - nbase > 1 ? ' (+1, +2…: its rechecks)' : '') },
        { values: function (u, ticks) { return ticks.map(fmt); }, size: 70, space: 24 }
      ],
      cursor: { drag: { x: false, y: false } }
    };
    new uPlot(opts, [xs, only(false), only(true), dots.map(function () { return p.base; })], el);
    var canvas = el.querySelector('canvas');
    if (canvas) {
      canvas.setAttribute('role', 'img');
      canvas.setAttribute('aria-label', typeof p.label === 'string' ? p.label : 'Strip plot of the builds');
    }
    window.perfkitCharts.push({ id: el.id, points: dots.length, series: 3, builds: n, baseline: nbase, new: n - nbase });
  }

  window.perfkitChangePage = function (plots) {
    try {
      if (typeof uPlot === 'undefined' || !Array.isArray(plots)) return;
      plots.forEach(drawStrip);
    } finally {
      window.perfkitReady = true;
    }
  };

  // The newest run second by second, the upgrade window shaded.
  function drawRun(id) {
    var el = document.getElementById('chart-run');
    var run = window.perfkitData && window.perfkitData.run && window.perfkitData.run[id];
    if (!el || !run || !Array.isArray(run.t)) return;
    var line = document.getElementById('run-line');
    if (line && typeof run.line === 'string') line.textContent = run.line;
    var win = Array.isArray(run.window) ? run.window : null;
    var band = {
      hooks: {
        draw: [function (u) {
          if (!win) return;
          var x0 = u.valToPos(win[0], 'x', true), x1 = u.valToPos(win[1], 'x', true);
          var ctx = u.ctx;
          ctx.save();
          ctx.fillStyle = 'rgba(164,0,28,0.12)';
          ctx.fillRect(x0, u.bbox.top, Math.max(1, x1 - x0), u.bbox.height);
          ctx.restore();
        }]
      }
    };
    var num = function (v) { return v === null || v === undefined ? '–' : Number(Number(v).toPrecision(3)); };
    var opts = {
      title: win ? 'Per second, upgrade window shaded' : 'Per second',
      width: Math.max(320, el.clientWidth || 800), height: 260,
      scales: { x: { time: true }, ms: {} },
      series: [{},
        { label: 'requests/s', stroke: '#0a6b2d', width: 1.5, value: function (u, v) { return num(v); } },
        { label: 'failures/s', stroke: '#a4001c', width: 1.5, value: function (u, v) { return num(v); } },
        { label: 'median ms', stroke: '#0b57d0', width: 1, scale: 'ms', value: function (u, v) { return num(v); } },
        { label: 'p95 ms', stroke: '#b35c00', width: 1, scale: 'ms', value: function (u, v) { return num(v); } }],
      axes: [{}, { label: 'per second' }, { side: 1, scale: 'ms', label: 'ms', grid: { show: false } }],
      plugins: [band]
    };
    new uPlot(opts, [run.t, run.requests_per_s, run.failures_per_s, run.p50_ms, run.p95_ms], el);
  }

  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), makeSortable);
  Array.prototype.forEach.call(document.querySelectorAll('input[data-filter]'), makeFilter);
  if (!document.querySelector('.chart')) window.perfkitReady = true;
})();
