'use strict';
// booker's live page: polls GET /v1/live and draws what it says. Every
// string from the server goes into the page as text, never as HTML.
(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const HISTORY = 120; // polls kept for the sparklines
  const COLOR = { free: [0xdf, 0xe3, 0xe8], booked: [0x2f, 0x6f, 0xd6], red: [0xe0, 0x1b, 0x24] };
  let selected = new URLSearchParams(location.search).get('event') || '';
  let polls = 0;
  const history = new Map(); // event -> {oversold: [], double: [], lost: []}
  const map = { key: '', lkey: '', img: null, prev: null, layout: null, bits: null, twice: null, doubled: new Map(), doubledTotal: 0, capacity: 0 };

  // ---- polling ----
  async function poll() {
    const t0 = performance.now();
    let size = 0;
    try {
      const q = selected ? '?event=' + encodeURIComponent(selected) : '';
      const resp = await fetch('/v1/live' + q, { cache: 'no-store' });
      const text = await resp.text();
      size = text.length;
      if (resp.status === 404 && selected) {
        selected = ''; // the event is gone: show the first one
        throw new Error('event not found');
      }
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      render(JSON.parse(text), size, performance.now() - t0);
    } catch (err) {
      $('status').textContent = 'booker is not answering (' + err.message + '); retrying…';
      $('status').className = 'stale';
    }
    // At least twice a second, once a second for very large seat maps.
    const every = size > 256 * 1024 ? 1000 : 500;
    setTimeout(poll, Math.max(50, every - (performance.now() - t0)));
  }

  function render(v, size, took) {
    const ev = v.events.find((e) => e.id === selected) || v.events[0];
    renderPicker(v.event_ids, ev ? ev.id : '', v.events_total);
    if (ev) {
      selected = ev.id;
      renderEvent(ev);
    }
    renderSellers(v.sellers);
    if ($('buyers-status')) renderBuyers(v.buyers, ev);
    body.dataset.polls = String(++polls);
    const t = new Date(v.time).toLocaleTimeString();
    $('status').textContent = 'updated ' + t + ' · GET /v1/live, ' + (size / 1024).toFixed(1) + ' KB in ' +
      took.toFixed(0) + ' ms · seat map drawn in ' + (body.dataset.drawMs || '0') + ' ms';
    $('status').className = '';
  }

  function renderPicker(ids, current, total) {
    const picker = $('event-picker');
    $('picker-label').hidden = total < 2;
    if (picker.dataset.ids !== ids.join(',')) {
      picker.replaceChildren(...ids.map((id) => new Option(id, id)));
      picker.dataset.ids = ids.join(',');
    }
    picker.value = current;
  }

  // ---- one event: counts, correctness series, seat map ----
  function renderEvent(ev) {
    const sec = $('event');
    const red = ev.doubled.map((d) => d.seat);
    Object.assign(sec.dataset, {
      event: ev.id, sold: ev.sold, capacity: ev.capacity, seatsBooked: ev.seats_booked,
      redSeats: red.join(','), redTotal: ev.doubled_total,
    });
    $('event-id').textContent = ev.id;
    $('sold').textContent = ev.sold.toLocaleString();
    $('capacity').textContent = ev.capacity.toLocaleString();
    $('card-sold').classList.toggle('long', String(ev.sold).length + String(ev.capacity).length > 7);
    $('sold-bar').style.width = Math.min(100, (100 * ev.sold) / ev.capacity) + '%';
    $('card-sold').classList.toggle('over', ev.sold > ev.capacity);
    let note = ev.seats_booked.toLocaleString() + ' seats held';
    if (ev.sold > ev.seats_booked) note += ', ' + (ev.sold - ev.seats_booked).toLocaleString() + ' bookings on seats already sold';
    if (ev.sold > ev.capacity) note += ' · ' + (ev.sold - ev.capacity).toLocaleString() + ' over capacity';
    $('sold-note').textContent = note;
    renderSeries(ev);
    renderRed(ev);
    drawMap(ev);
  }

  function renderSeries(ev) {
    let h = history.get(ev.id);
    if (!h) history.set(ev.id, (h = { oversold: [], double: [], lost: [] }));
    const a = ev.audit;
    const values = a ? { oversold: a.oversold, double: a.double_booked_seats, lost: a.lost } : null;
    for (const name of ['oversold', 'double', 'lost']) {
      const card = $('card-' + name);
      if (!values) {
        $(name).textContent = '–';
        card.dataset.bad = '';
        continue;
      }
      const val = values[name];
      h[name].push(val);
      if (h[name].length > HISTORY) h[name].shift();
      $(name).textContent = val.toLocaleString();
      card.dataset.bad = String(val > 0);
      card.dataset.value = String(val);
      spark($('spark-' + name), h[name]);
    }
  }

  function spark(canvas, vals) {
    const ctx = canvas.getContext('2d');
    const w = canvas.width, hgt = canvas.height;
    ctx.clearRect(0, 0, w, hgt);
    // The newest value at the right edge, older ones to its left.
    const top = Math.max(1, ...vals);
    const step = (w - 2) / (HISTORY - 1);
    const color = vals[vals.length - 1] > 0 ? '#e01b24' : '#1e8e3e';
    ctx.fillStyle = '#e6e9ee';
    ctx.fillRect(0, hgt - 1, w, 1);
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    vals.forEach((v, i) => {
      const x = w - 1 - (vals.length - 1 - i) * step;
      const y = hgt - 2 - (v / top) * (hgt - 4);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    const y = hgt - 2 - (vals[vals.length - 1] / top) * (hgt - 4);
    ctx.beginPath();
    ctx.arc(w - 3, y, 2.5, 0, 2 * Math.PI);
    ctx.fill();
  }

  function renderRed(ev) {
    const list = $('red-seats');
    const key = ev.doubled.map((d) => d.seat + ':' + d.buyers.join('|')).join(',');
    $('red-count').textContent = ev.doubled_total.toLocaleString();
    $('red-summary').dataset.red = String(ev.doubled_total > 0);
    let words = (ev.doubled_total === 1 ? 'seat' : 'seats') + ' held by more than one booking in the ticket file (red)';
    if (ev.doubled_total > ev.doubled.length) words += ', the first ' + ev.doubled.length + ' listed';
    const audited = ev.audit ? ev.audit.double_booked_seats : ev.doubled_total;
    if (audited > ev.doubled_total) {
      words += ' · the audit counts ' + audited + ' double-booked: it also counts confirmations the file has lost';
    } else if (audited < ev.doubled_total) {
      words += ' · the audit counts ' + audited + ' double-booked: it covers what this booker confirmed since it started';
    }
    $('red-words').textContent = words;
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    list.replaceChildren(...ev.doubled.map((d) => {
      const li = document.createElement('li');
      li.dataset.seat = d.seat;
      li.dataset.buyers = d.buyers.join(',');
      const b = document.createElement('b');
      b.textContent = 'seat ' + d.seat + ' ×' + d.count;
      li.append(b, ' ' + d.buyers.join(', ') + (d.count > d.buyers.length ? ', …' : ''));
      return li;
    }));
  }

  // layout picks a cell size so the whole map fits about 60% of the
  // window's height, theatre-shaped; one cell per seat while a cell can
  // be a pixel, several seats per cell beyond (millions of seats).
  function layout(capacity, width) {
    const maxH = Math.max(200, Math.min(window.innerHeight * 0.6, 620));
    let per = 1;
    while (Math.ceil(capacity / per) > width * maxH) per *= 2;
    const cells = Math.ceil(capacity / per);
    let cols = Math.ceil(Math.sqrt(cells * (width / maxH)));
    let cell = Math.min(36, Math.floor(width / cols), Math.floor(maxH / Math.ceil(cells / cols)));
    if (cell < 1) { cell = 1; cols = Math.min(cells, width); }
    return { per, cells, cols, rows: Math.ceil(cells / cols), cell };
  }

  function drawMap(ev) {
    const box = $('map-box');
    const width = Math.max(100, Math.floor(box.clientWidth));
    const key = [ev.id, ev.capacity, width, ev.seats, ev.seats_doubled].join('/');
    if (key === map.key) return;
    const t0 = performance.now();
    map.key = key;
    map.capacity = ev.capacity;
    map.bits = bitmap(ev.seats);
    map.twice = bitmap(ev.seats_doubled);
    map.doubled = new Map(ev.doubled.map((d) => [d.seat, d]));
    map.doubledTotal = ev.doubled_total;
    const L = (map.layout = layout(ev.capacity, width));
    // Cell states: 0 free, 1 booked, 2 held more than once.
    const state = new Uint8Array(L.cells);
    mark(state, map.bits, L.per, 1);
    mark(state, map.twice, L.per, 2);
    paint(L, state);
    body.dataset.drawMs = (performance.now() - t0).toFixed(1);
    $('map-info').textContent = '· ' + ev.capacity.toLocaleString() + ' seats, ' +
      (L.per === 1 ? 'one cell each' : L.per + ' seats a cell') + ', ' + L.cols + ' a row';
  }

  function bitmap(b64) {
    return Uint8Array.from(atob(b64 || ''), (c) => c.charCodeAt(0));
  }

  // mark raises to value the state of the cells of the seats set in bits.
  function mark(state, bits, per, value) {
    for (let i = 0; i < bits.length; i++) {
      const byte = bits[i];
      if (byte === 0) continue;
      for (let j = 0; j < 8; j++) {
        const c = Math.floor((i * 8 + j) / per);
        if (byte & (1 << j) && state[c] < value) state[c] = value;
      }
    }
  }

  // paint draws the cells into one ImageData at the screen's pixel
  // density, kept between polls: only cells whose state changed are
  // filled again. It then rings the red cells when cells are too small
  // to see.
  function paint(L, state) {
    const canvas = $('seatmap');
    const dpr = window.devicePixelRatio || 1;
    const ctx = canvas.getContext('2d');
    const lkey = [L.cols, L.rows, L.cell, L.per, dpr].join();
    if (map.lkey !== lkey) {
      const W = L.cols * L.cell, H = L.rows * L.cell;
      canvas.style.width = W + 'px';
      canvas.style.height = H + 'px';
      canvas.width = Math.round(W * dpr);
      canvas.height = Math.round(H * dpr);
      map.img = ctx.createImageData(canvas.width, canvas.height);
      map.prev = new Uint8Array(L.cells).fill(255);
      map.lkey = lkey;
    }
    const img = map.img, px = new Uint32Array(img.data.buffer);
    const rgba = (c) => (255 << 24) | (c[2] << 16) | (c[1] << 8) | c[0]; // little-endian
    const colors = [rgba(COLOR.free), rgba(COLOR.booked), rgba(COLOR.red)];
    const gap = L.cell >= 6 ? Math.max(1, Math.round((L.cell * dpr) / 8)) : 0;
    const edge = (n) => Math.round(n * L.cell * dpr);
    for (let c = 0; c < L.cells; c++) {
      if (state[c] === map.prev[c]) continue;
      const col = c % L.cols, row = (c - col) / L.cols;
      const x0 = edge(col), x1 = edge(col + 1) - gap, y0 = edge(row), y1 = edge(row + 1) - gap;
      const color = colors[state[c]];
      for (let y = y0; y < y1; y++) px.fill(color, y * img.width + x0, y * img.width + x1);
    }
    map.prev = state;
    ctx.putImageData(img, 0, 0);
    // A few red seats among many tiny cells get a ring so the eye finds them.
    if (L.cell >= 8 || map.doubledTotal > 100) return;
    ctx.strokeStyle = '#e01b24';
    ctx.lineWidth = 2 * dpr;
    for (const seat of map.doubled.keys()) {
      const c = Math.floor((seat - 1) / L.per), col = c % L.cols, row = (c - col) / L.cols;
      const cx = (col + 0.5) * L.cell * dpr, cy = (row + 0.5) * L.cell * dpr, r = 5 * dpr;
      ctx.strokeRect(cx - r, cy - r, 2 * r, 2 * r);
    }
  }

  function seatAt(evt) {
    const L = map.layout;
    if (!L) return 0;
    const rect = $('seatmap').getBoundingClientRect();
    const col = Math.floor((evt.clientX - rect.left) / L.cell), row = Math.floor((evt.clientY - rect.top) / L.cell);
    if (col < 0 || col >= L.cols || row < 0) return 0;
    const seat = (row * L.cols + col) * L.per + 1;
    return seat <= map.capacity ? seat : 0;
  }

  function has(bits, seat) {
    return !!bits && (bits[(seat - 1) >> 3] & (1 << ((seat - 1) & 7))) !== 0;
  }

  function tooltip(evt) {
    const tip = $('tip');
    const seat = seatAt(evt);
    if (!seat) { tip.hidden = true; return; }
    const d = map.doubled.get(seat);
    const last = map.layout.per > 1 ? '–' + Math.min(map.capacity, seat + map.layout.per - 1) : '';
    let text = 'Seat ' + seat + last + ': ' + (has(map.bits, seat) ? 'booked' : 'free');
    if (d) text = 'Seat ' + seat + ': sold ' + d.count + ' times, to ' + d.buyers.join(', ') + (d.count > d.buyers.length ? ', …' : '');
    else if (has(map.twice, seat)) text = 'Seat ' + seat + ': sold more than once (buyers listed for the first ' + map.doubled.size + ' such seats only)';
    tip.textContent = text;
    const box = $('map-box').getBoundingClientRect();
    tip.style.left = Math.min(evt.clientX - box.left + 14, box.width - 240) + 'px';
    tip.style.top = evt.clientY - box.top + 14 + 'px';
    tip.hidden = false;
  }

  // ---- sellers ----
  function renderSellers(sellers) {
    const tbody = $('sellers').tBodies[0];
    let total = 0;
    tbody.replaceChildren(...sellers.map((s) => {
      total += s.bookings_per_second;
      const tr = document.createElement('tr');
      tr.dataset.slot = s.slot;
      const wait = body.dataset.mode === 'race' ? 'no lock' : fmtMs(s.lock_wait_p99_ms, s.commits);
      const cells = [s.slot, s.pid || '–', s.state, s.restarts, s.bookings_per_second.toFixed(1), wait, fmtMs(s.lock_hold_p99_ms, s.commits)];
      cells.forEach((text, i) => {
        const td = tr.insertCell();
        td.textContent = String(text);
        if (i === 2) td.className = 'state-' + s.state;
      });
      return tr;
    }));
    $('rate').textContent = total.toFixed(1) + ' bookings/s';
  }

  function fmtMs(v, commits) {
    if (!commits) return '–';
    return v < 1 ? (v * 1000).toFixed(0) + ' µs' : v.toFixed(1) + ' ms';
  }

  // ---- the buyers control (race mode or --demo only) ----
  function renderBuyers(run, ev) {
    const st = $('buyers-status');
    if (ev) $('buyers-event').textContent = ev.id;
    $('buyers-send').disabled = !!(run && run.running);
    if (!run) return;
    st.dataset.run = run.run;
    st.dataset.running = String(run.running);
    st.textContent = 'Run ' + run.run + ' at ' + run.event + ': ' + run.buyers + ' buyers, ' + run.concurrency + ' at once · ' +
      run.answered + ' answered: ' + run.confirmed + ' confirmed, ' + run.refused + ' refused (sold out or seat taken), ' +
      run.failed + ' failed · ' + run.seconds.toFixed(1) + ' s' + (run.running ? ' …' : '');
  }

  async function sendBuyers(evt) {
    evt.preventDefault();
    const st = $('buyers-status');
    $('buyers-send').disabled = true;
    try {
      const resp = await fetch('/v1/live/buyers', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ event: selected, buyers: Number($('buyers-n').value), concurrency: Number($('buyers-c').value) }),
      });
      if (!resp.ok) st.textContent = 'Not sent: ' + ((await resp.json()).message || resp.status);
    } catch (err) {
      st.textContent = 'Not sent: ' + err.message;
    }
  }

  // For tests and curious teachers: the colour the canvas shows at a
  // seat's cell, as [r, g, b].
  window.bookerLive = {
    seatColor(seat) {
      const L = map.layout;
      if (!L) return null;
      const dpr = window.devicePixelRatio || 1;
      const c = Math.floor((seat - 1) / L.per), col = c % L.cols, row = (c - col) / L.cols;
      const x = Math.floor((col + 0.5) * L.cell * dpr), y = Math.floor((row + 0.5) * L.cell * dpr);
      return Array.from($('seatmap').getContext('2d').getImageData(x, y, 1, 1).data.slice(0, 3));
    },
    // The centre of a seat's cell, in client (CSS pixel) coordinates.
    seatPoint(seat) {
      const L = map.layout;
      if (!L) return null;
      const c = Math.floor((seat - 1) / L.per), col = c % L.cols, row = (c - col) / L.cols;
      const rect = $('seatmap').getBoundingClientRect();
      return { x: rect.left + (col + 0.5) * L.cell, y: rect.top + (row + 0.5) * L.cell };
    },
  };

  $('seatmap').addEventListener('mousemove', tooltip);
  $('seatmap').addEventListener('mouseleave', () => { $('tip').hidden = true; });
  $('event-picker').addEventListener('change', (e) => { selected = e.target.value; map.key = ''; });
  if ($('buyers-form')) $('buyers-form').addEventListener('submit', sendBuyers);
  window.addEventListener('resize', () => { map.key = ''; });
  poll();
})();
