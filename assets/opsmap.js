// The operations map (st.components.v2, in the page, no iframe). Draws the pydeck-built deck
// with pydeck's own offline deck.gl bundle (served by our server), selects a camera in the
// browser, shows its stored picture at once, asks for a fresh one and swaps it in, and keeps
// the cameras' states current from /api/map/state without a Streamlit rerun. Python learns the
// selection afterwards (state value "selected") for the details, history and incident links.
// Every text comes from data.text, translated on the server. No stream URL ever reaches here.

const bundles = {};

// A map left (another page of the app) keeps its deck and WebGL context here, hidden, for the
// next map to take: in software WebGL a new context compiles every layer's shaders again, which
// holds the page for seconds before the first frame reaches the screen.
let parked = null;

function park(deck, nodes) {
  if (parked) parked.deck.finalize();
  const shelf = document.createElement("div");
  const box = nodes[0] ? nodes[0].getBoundingClientRect() : { width: 0, height: 0 };
  shelf.style.cssText = `position:fixed;left:-20000px;top:0;visibility:hidden;pointer-events:none;width:${Math.max(box.width, 1)}px;height:${Math.max(box.height, 1)}px`;
  nodes.forEach((node) => shelf.appendChild(node));
  document.body.appendChild(shelf);
  deck.setProps({ onAfterRender: () => {}, onViewStateChange: () => {} });
  parked = { deck, nodes, shelf };
}

function unpark(container) {
  if (!parked) return null;
  const { deck, nodes, shelf } = parked;
  parked = null;
  nodes.forEach((node) => container.appendChild(node));
  shelf.remove();
  return { deck, nodes };
}

function loadBundle(url) {
  if (window.createDeck) return Promise.resolve();
  if (!bundles[url]) {
    bundles[url] = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = url;
      script.async = true;
      script.onload = () =>
        window.createDeck ? resolve() : reject(new Error("deck.gl bundle without createDeck"));
      script.onerror = () => {
        delete bundles[url];
        reject(new Error("deck.gl bundle could not be loaded"));
      };
      document.head.appendChild(script);
    });
  }
  return bundles[url];
}

function fmt(template, values) {
  return template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

class OpsMap {
  constructor(root, data, setStateValue) {
    this.root = root;
    this.setStateValue = setStateValue;
    this.deck = null;
    this.etag = null;
    this.skew = 0; // server time − browser time, in seconds
    this.lastStates = Date.now();
    this.selected = null;
    this.pictureFor = null;
    this.csrf = null;
    this.timers = [];
    this.timings = []; // input → picture on screen, in the page's own clock (benchmarks)
    this.marks = { mounted: performance.now() };
    this.el = {
      canvas: root.querySelector(".lj-canvas"),
      card: root.querySelector(".lj-card"),
      search: root.querySelector(".lj-search input"),
      results: root.querySelector(".lj-results"),
      banner: root.querySelector(".lj-banner"),
      status: root.querySelector(".lj-status"),
      tip: root.querySelector(".lj-tip"),
    };
    this.wireKeys();
    this.update(data);
    this.timers.push(setInterval(() => this.pollStates(), 1000 * (data.refresh_s || 4)));
    this.timers.push(setInterval(() => this.tick(), 1000));
  }

  // -- data from Python (first mount, and each time it changes) ---------------------------
  update(data) {
    const first = !this.data;
    const mapChanged = data.deck_url !== this.deckUrl;
    this.data = data;
    this.t = data.text;
    this.names = this.names || new Map();
    this.states = this.states || new Map();
    if (data.states) this.states = new Map(data.states.map((s) => [s[0], s]));
    if (data.selected_camera) {
      const [id, name, agency, district] = data.selected_camera;
      if (!this.names.has(id)) this.names.set(id, { name, agency, district });
    }
    if (data.selected_state && !this.states.has(data.selected_state[0])) {
      this.states.set(data.selected_state[0], data.selected_state);
    }
    this.el.search.placeholder = this.t.search;
    this.el.search.setAttribute("aria-label", this.t.search);
    this.el.canvas.setAttribute("aria-label", this.t.map_label);
    if (first && !data.states) this.pollStates(true); // thousands of cameras: asked for apart
    if (mapChanged) {
      this.deckUrl = data.deck_url;
      if (first && data.selected) {
        // a link to a camera: its picture first, then the map (the bundle's start-up would
        // hold the picture back by a second)
        this.drawAfterPicture = true;
        setTimeout(() => this.drawLate(), 1500);
      } else {
        this.draw();
      }
    }
    if (data.focus && data.focus !== this.focused) this.flyTo(data.focus);
    this.focused = data.focus;
    // Python's choice counts only when Python made it (a link, a camera it refused): data
    // re-sent by a rerun still names the camera chosen before the operator clicked the next.
    if (data.select_seq !== this.selectSeq) {
      this.selectSeq = data.select_seq;
      if (data.selected && data.selected !== this.selected) {
        this.select(data.selected, { tell: false });
        this.refresh(data.selected);
      } else if (!data.selected && this.selected) {
        this.close({ tell: false });
      }
    }
  }

  async fetchMap(url) {
    // The map (deck and the cameras' names) by its versioned URL: the browser keeps it.
    const reply = await fetch(url, { credentials: "same-origin" });
    if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
    const body = await reply.json();
    if (url !== this.deckUrl) return null; // a newer map was asked for meanwhile
    this.names = new Map(body.cameras.map((c) => [c[0], { name: c[1], agency: c[2], district: c[3] }]));
    this.order = body.cameras.map((c) => c[0]).sort((a, b) =>
      this.names.get(a).name.localeCompare(this.names.get(b).name),
    );
    this.spec = body.spec;
    this.minZoom = body.min_zoom || {}; // layers drawn only from a zoom on (thousands of wedges)
    return body.spec;
  }

  // -- drawing ---------------------------------------------------------------------------
  draw() {
    const url = this.deckUrl;
    this.el.status.textContent = this.t.loading;
    Promise.all([this.fetchMap(url), loadBundle(this.data.urls.bundle)])
      .then(([spec]) => {
        if (spec) this.drawSpec(spec);
      })
      .catch((error) => {
        this.el.status.textContent = fmt(this.t.map_failed, { error: error.message });
        this.el.status.classList.add("lj-error");
      });
  }

  drawSpec(spec) {
    // Picking and tooltips are ours, on the screen positions (see pickAt): deck.gl's GPU
    // picking on every pointer move and press costs tens of ms each in software WebGL.
    for (const layer of spec.layers || []) layer.pickable = false;
    this.marks.bundle = this.marks.bundle || performance.now();
    if (!this.deck) {
      // the deck a map on another page left (its shaders compiled): coming back to the map
      // finds it where the operator left it, like any redraw
      const kept = unpark(this.el.canvas);
      if (kept) ({ deck: this.deck, nodes: this.deckNodes } = kept);
      this.adopted = !!kept;
    }
    if (this.deck) {
      const v = this.deck.getViewports()[0];
      if (v) {
        // a redraw (a layer switched on or off) keeps the operator's view
        const { longitude, latitude, zoom, pitch, bearing } = v;
        spec.initialViewState = { longitude, latitude, zoom, pitch, bearing };
      }
    }
    // layers with a zoom rule start as the view's zoom says (their first frame is the costly one)
    this.zoom = spec.initialViewState.zoom;
    for (const layer of spec.layers || []) {
      if (this.minZoom[layer.id] != null) layer.visible = this.zoom >= this.minZoom[layer.id];
    }
    if (this.deck && !this.adopted) {
      window.updateDeck(spec, this.deck);
    } else {
      if (this.adopted) {
        window.updateDeck(spec, this.deck); // a kept deck: this map's layers, the view it had
        this.adopted = false;
      } else {
        const before = new Set(this.el.canvas.children);
        this.deck = window.createDeck({ container: this.el.canvas, jsonInput: spec, tooltip: false });
        this.deckNodes = [...this.el.canvas.children].filter((node) => !before.has(node));
      }
      this.deck.setProps({
        onAfterRender: () => this.drawn(),
        onViewStateChange: ({ viewState }) => this.zoomed(viewState.zoom),
      });
      this.wirePointer();
    }
    this.baseLayers = null;
    this.waitForLayers();
  }

  waitForLayers(tries = 0) {
    // deck.gl converts the JSON synchronously; its layer objects are ready on the next frame
    const layers = this.deck && this.deck.props.layers;
    if (!layers || !layers.length) {
      if (tries < 200) requestAnimationFrame(() => this.waitForLayers(tries + 1));
      return;
    }
    this.baseLayers = layers.filter((l) => l && !String(l.id).startsWith("lj-"));
    this.el.status.textContent = "";
    this.root.dataset.ready = "true";
    this.restyle();
    if (this.pendingFly) this.flyTo(this.pendingFly); // asked for before the map was there
  }

  cameraRows() {
    const target = this.baseLayers.find((l) => l.id === this.data.camera_layer);
    return target ? target.props.data : [];
  }

  prefetch() {
    // A city's few dozen cameras: their newest thumbnails are fetched ahead (each URL names
    // its picture, so the browser keeps it), and a click shows one at once.
    if (this.states.size > 60) return;
    this.fetched = this.fetched || new Map();
    for (const [id, s] of this.states) {
      if (s[3] == null || this.fetched.get(id) === s[3]) continue;
      this.fetched.set(id, s[3]);
      const image = new Image();
      image.src = `/api/cameras/${encodeURIComponent(id)}/thumb.jpg?v=${encodeURIComponent(s[3])}`;
    }
  }

  shownAt(layer, zoom) {
    const from = this.minZoom && this.minZoom[layer.id];
    return from == null || zoom >= from;
  }

  zoomed(zoom) {
    // a layer with a zoom rule appears or goes when the view crosses its zoom (one redraw)
    const before = this.zoom;
    this.zoom = zoom;
    if (!this.baseLayers || before == null) return;
    if (this.baseLayers.some((l) => this.shownAt(l, before) !== this.shownAt(l, zoom))) this.restyle();
  }

  restyle() {
    // New colours for the cameras whose state changed, and the selected camera's ring.
    if (!this.deck || !this.baseLayers) return;
    this.prefetch();
    const colours = this.data.colours;
    const rows = this.cameraRows().map((row) => {
      const s = this.states.get(row.id);
      if (!s) return row;
      const colour = [...(colours[s[1]] || colours.pending).slice(0, 3), 255];
      return { ...row, colour };
    });
    const layers = this.baseLayers.map((layer) => {
      if (layer.id === this.data.camera_layer) return layer.clone({ data: rows });
      if (layer.id === "camera-dots") return layer.clone({ data: rows });
      if (this.minZoom && this.minZoom[layer.id] != null) {
        return layer.clone({ visible: this.shownAt(layer, this.zoom) });
      }
      return layer;
    });
    const dots = this.baseLayers.find((l) => l.id === "camera-dots");
    const chosen = this.selected && rows.find((r) => r.id === this.selected);
    if (dots && chosen) {
      layers.push(
        dots.clone({
          id: "lj-selected",
          data: [chosen],
          getLineColor: [255, 215, 0],
          getRadius: this.data.radius_px * 1.7,
          radiusUnits: "pixels",
          radiusMinPixels: 0,
          radiusMaxPixels: Number.MAX_SAFE_INTEGER,
          lineWidthMinPixels: 3,
        }),
      );
    }
    this.deck.setProps({ layers });
  }

  flyTo(id) {
    const row = this.deck && this.baseLayers ? this.cameraRows().find((r) => r.id === id) : null;
    if (!row) {
      this.pendingFly = id;
      return;
    }
    this.pendingFly = null;
    const view = this.spec.initialViewState;
    this.deck.setProps({
      initialViewState: {
        ...view,
        longitude: row.position[0],
        latitude: row.position[1],
        zoom: Math.max(view.zoom, 16),
        transitionDuration: 400,
      },
    });
  }

  // -- selection ---------------------------------------------------------------------------
  drawn() {
    // the first frame with the cameras on it: the map is there for the operator
    // on screen: deck.gl has issued its draw calls, but in software WebGL the page is held
    // until the GPU process has run them (a new context compiles its shaders first), so the
    // map counts as drawn at the next frames the page itself gets to
    if (this.baseLayers && !this.drawing && this.root.dataset.drawn !== "true") {
      this.drawing = true;
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          this.root.dataset.drawn = "true";
          this.marks.drawn = performance.now();
        }),
      );
    }
  }

  wirePointer() {
    // Our own tap: one finger or the mouse, down and up within 10 px and 1.5 s (deck.gl's tap
    // recogniser drops presses over 250 ms, which a busy phone's first touch often is). A
    // second finger (pinch) or a drag is the map moving, never a selection. Event times are
    // the input's own, so a busy page does not make a tap look long.
    const area = this.el.canvas;
    const down = new Map();
    let gesture = false;
    area.addEventListener("pointerdown", (e) => {
      down.set(e.pointerId, { x: e.clientX, y: e.clientY, t: e.timeStamp });
      if (down.size > 1) gesture = true;
    }, true);
    const forget = (e) => {
      down.delete(e.pointerId);
      if (!down.size) setTimeout(() => (gesture = false), 0);
    };
    area.addEventListener("pointercancel", forget, true);
    let hoverAt = null;
    area.addEventListener("pointermove", (e) => {
      if (e.pointerType !== "mouse" || down.size) return this.hover(null);
      const rect = area.getBoundingClientRect();
      const first = hoverAt === null;
      hoverAt = [e.clientX - rect.left, e.clientY - rect.top];
      if (first) requestAnimationFrame(() => {
        this.hover(hoverAt);
        hoverAt = null;
      });
    });
    area.addEventListener("pointerleave", () => this.hover(null));
    area.addEventListener("pointerup", (e) => {
      const start = down.get(e.pointerId);
      const multi = gesture || down.size > 1;
      forget(e);
      if (!start || multi || (e.pointerType === "mouse" && e.button !== 0)) return;
      const moved = Math.hypot(e.clientX - start.x, e.clientY - start.y);
      if (moved > 10 || e.timeStamp - start.t > 1500) return;
      const rect = area.getBoundingClientRect();
      this.pickAt(e.clientX - rect.left, e.clientY - rect.top, e.timeStamp);
    }, true);
  }

  nearest(x, y, rows) {
    // The row drawn nearest to (x, y) within the picking radius, by the screen positions (a
    // few microseconds per camera; deck.gl's GPU picking reads pixels back, slow in software).
    const viewport = this.deck && this.deck.getViewports()[0];
    if (!viewport) return null;
    let best = null;
    let bestD = this.spec.pickingRadius || 14;
    for (const row of rows) {
      const [px, py] = viewport.project(row.position);
      const d = Math.hypot(px - x, py - y);
      if (d <= bestD) {
        best = row;
        bestD = d;
      }
    }
    return best;
  }

  hover(at) {
    // A camera's (or site's) name, state and thumbnail under the mouse.
    const tip = this.el.tip;
    const camera = at && this.baseLayers ? this.nearest(at[0], at[1], this.cameraRows()) : null;
    const site = at && !camera && this.baseLayers ? this.nearest(at[0], at[1], this.siteRows()) : null;
    if (!camera && !site) {
      tip.hidden = true;
      delete tip.dataset.id;
      return;
    }
    const id = camera ? camera.id : `site:${site.id}`;
    if (tip.dataset.id !== id) {
      tip.dataset.id = id;
      const img = tip.querySelector("img");
      const lines = tip.querySelectorAll("div");
      if (camera) {
        const facts = this.names.get(camera.id);
        const s = this.states.get(camera.id);
        lines[0].textContent = facts.name;
        lines[1].textContent = s ? this.caption(s) : "";
        lines[2].textContent = [facts.agency, facts.district].filter(Boolean).join(" · ");
        img.hidden = !s || s[3] == null;
        if (!img.hidden) img.src = `/api/cameras/${encodeURIComponent(camera.id)}/thumb.jpg?v=${encodeURIComponent(s[3])}`;
      } else {
        lines[0].textContent = site.title;
        lines[1].textContent = site.subtitle || "";
        lines[2].textContent = site.detail || "";
        img.hidden = true;
      }
    }
    tip.hidden = false;
    const box = this.el.canvas.getBoundingClientRect();
    tip.style.left = `${Math.min(at[0] + 14, box.width - 270)}px`;
    tip.style.top = `${Math.min(at[1] + 14, box.height - 220)}px`;
  }

  siteRows() {
    const sites = this.baseLayers.find((l) => l.id === "sites");
    return sites ? sites.props.data : [];
  }

  pickAt(x, y, at) {
    if (!this.deck || !this.baseLayers) return;
    const row = this.nearest(x, y, this.cameraRows());
    const best = row && row.id;
    if (best) {
      this.clickedAt = at;
      this.select(best, { tell: true });
    }
  }

  select(id, { tell }) {
    if (!this.names.has(id)) return;
    this.hover(null);
    this.selected = id;
    this.showCard(id);
    if (tell) this.refresh(id); // a request: no work for this page until it answers
    // The picture first: the ring (a redraw of the map, slow in software WebGL) and telling
    // Python (a rerun the page must take in) wait until it is on screen, or 300 ms.
    const after = () => {
      if (this.afterPicture !== after) return;
      this.afterPicture = null;
      this.restyle();
      if (tell) this.setStateValue("selected", id); // the details follow
    };
    this.afterPicture = after;
    setTimeout(after, 300);
  }

  pictureShown() {
    if (this.marks.picture == null) this.marks.picture = performance.now();
    const after = this.afterPicture;
    if (after) setTimeout(after, 0);
    if (this.drawAfterPicture) setTimeout(() => this.drawLate(), 0);
  }

  drawLate() {
    if (!this.drawAfterPicture) return;
    this.drawAfterPicture = false;
    this.draw();
  }

  close({ tell }) {
    this.stopLive();
    this.afterPicture = null;
    this.selected = null;
    this.pictureFor = null;
    this.el.card.hidden = true;
    this.root.dataset.open = "false";
    this.restyle();
    if (tell) this.setStateValue("selected", null);
  }

  showCard(id) {
    const card = this.el.card;
    const facts = this.names.get(id);
    card.hidden = false;
    this.root.dataset.open = "true";
    card.dataset.camera = id;
    card.querySelector(".lj-name").textContent = facts.name;
    card.querySelector(".lj-where").textContent = [facts.agency, facts.district].filter(Boolean).join(" · ");
    card.querySelector(".lj-close").setAttribute("aria-label", this.t.close);
    card.querySelector(".lj-close").title = this.t.close;
    card.querySelector(".lj-note").textContent = "";
    card.dataset.fresh = "false";
    if (this.player && this.player.id !== id) this.stopLive();
    const live = card.querySelector(".lj-golive");
    live.hidden = !this.data.can_live;
    if (!this.player) {
      live.textContent = this.t.live_start;
      live.setAttribute("aria-pressed", "false");
    }
    this.pictureFor = id;
    this.showPicture(id, false);
    this.tick();
  }

  showPicture(id, fresh) {
    const s = this.states.get(id);
    const img = this.el.card.querySelector("img");
    const none = this.el.card.querySelector(".lj-nopicture");
    if (!s || s[3] == null) {
      img.hidden = true;
      img.removeAttribute("src");
      delete img.dataset.camera;
      none.hidden = false;
      none.textContent = this.pictureText(s);
      const from = this.clickedAt;
      this.clickedAt = null;
      requestAnimationFrame(() => {
        if (from != null) this.timings.push({ id, shown_ms: performance.now() - from, none: true });
        this.pictureShown();
      });
      return;
    }
    none.hidden = true;
    if (img.dataset.camera !== id) {
      img.hidden = true; // never another camera's picture under this one's name
      img.removeAttribute("src");
      delete img.dataset.taken;
    }
    img.alt = fmt(this.t.picture_of, { name: this.names.get(id).name });
    const version = encodeURIComponent(s[3]);
    const load = (url, onLoad) => {
      const next = new Image();
      next.onload = () => {
        if (this.pictureFor !== id) return;
        img.src = next.src;
        img.dataset.camera = id;
        img.hidden = false;
        img.dataset.taken = String(s[3]);
        const from = this.clickedAt;
        this.clickedAt = null;
        requestAnimationFrame(() => {
          // the frame with the picture in it: what the operator sees
          if (from != null) this.timings.push({ id, shown_ms: performance.now() - from });
          this.pictureShown();
        });
        if (onLoad) onLoad();
      };
      next.src = url;
    };
    if (!fresh && img.dataset.taken !== String(s[3])) {
      // the thumbnail is small (and often cached from the tooltip): it shows at once
      load(`/api/cameras/${encodeURIComponent(id)}/thumb.jpg?v=${version}`);
    }
    load(`/api/cameras/${encodeURIComponent(id)}/snapshot.jpg?v=${version}`, () => {
      img.dataset.size = "full";
      if (fresh) this.el.card.dataset.fresh = "true";
    });
  }

  // -- live video (assets/liveplayer.js) ----------------------------------------------------
  toggleLive() {
    if (this.player) return this.stopLive();
    const id = this.pictureFor;
    if (!id) return;
    const card = this.el.card;
    const still = card.querySelector("img");
    const button = card.querySelector(".lj-golive");
    this.player = new LivePlayer({
      box: card.querySelector(".lj-live"),
      bar: card.querySelector(".lj-livebar"),
      poster: still.hidden ? "" : still.src,
      cameraId: id,
      texts: this.t,
      clock: (epoch) => this.clock(epoch, true),
      lang: this.data.lang,
      onState: (state) => (card.dataset.livestate = state),
    });
    card.dataset.live = "true";
    button.textContent = this.t.live_stop;
    button.setAttribute("aria-pressed", "true");
    this.player.start();
  }

  stopLive() {
    const card = this.el.card;
    if (this.player) {
      this.lastLive = this.player.timings;
      this.player.stop();
    }
    this.player = null;
    delete card.dataset.live;
    delete card.dataset.livestate;
    const button = card.querySelector(".lj-golive");
    button.textContent = this.t.live_start;
    button.setAttribute("aria-pressed", "false");
  }

  async session() {
    if (this.csrf) return this.csrf;
    const reply = await fetch(this.data.urls.session, { credentials: "same-origin" });
    const body = await reply.json();
    this.csrf = body.csrf_header ? { [body.csrf_header]: body.csrf_token } : {};
    return this.csrf;
  }

  async refresh(id) {
    if (!this.data.can_refresh) return;
    const note = this.el.card.querySelector(".lj-note");
    const before = this.states.get(id) ? this.states.get(id)[3] : null;
    note.textContent = this.t.refreshing;
    this.el.card.dataset.refreshing = "true";
    try {
      const headers = await this.session();
      const reply = await fetch(`/api/cameras/${encodeURIComponent(id)}/refresh`, {
        method: "POST",
        credentials: "same-origin",
        headers,
      });
      if (this.pictureFor !== id) return;
      if (reply.status === 429) {
        note.textContent = this.t.refresh_limited;
        return;
      }
      const body = await reply.json();
      await this.pollStates(true);
      if (this.pictureFor !== id) return;
      const after = this.states.get(id) ? this.states.get(id)[3] : null;
      if (after != null && after !== before) {
        note.textContent = this.t.fresh;
        this.showPicture(id, true);
      } else {
        // finished with no newer picture: the camera did not answer; not finished in time: the
        // capture goes on and its picture is swapped in by the next state update
        // a camera that answers with a dark, frozen or tampered picture did answer
        const state = this.states.get(id) ? this.states.get(id)[1] : null;
        const answered = ["dark", "frozen", "tampered"].includes(state);
        const done = answered ? this.t.refresh_not_good : this.t.refresh_failed;
        note.textContent = body.finished ? done : this.t.refresh_pending;
      }
    } catch (error) {
      if (this.pictureFor === id) note.textContent = this.t.refresh_failed;
    } finally {
      if (this.pictureFor === id) this.el.card.dataset.refreshing = "false";
    }
  }

  // -- states --------------------------------------------------------------------------
  async pollStates(force) {
    if (!force && document.hidden) return;
    try {
      const headers = this.etag ? { "If-None-Match": this.etag } : {};
      const reply = await fetch(this.data.urls.state, { credentials: "same-origin", headers });
      if (reply.status === 304) {
        this.lastStates = Date.now();
      } else if (reply.ok) {
        const body = await reply.json();
        this.etag = reply.headers.get("ETag");
        this.skew = body.now - Date.now() / 1000;
        const before = this.states;
        this.states = new Map(body.cameras.map((s) => [s[0], s]));
        this.lastStates = Date.now();
        const recoloured =
          before.size !== this.states.size || [...this.states].some(([id, s]) => !before.has(id) || before.get(id)[1] !== s[1]);
        if (recoloured) this.restyle(); // a redraw only when a camera's colour changed
        else this.prefetch();
        const open = this.pictureFor && this.states.get(this.pictureFor);
        const img = this.el.card.querySelector("img");
        if (open && !force && open[3] != null && String(open[3]) !== img.dataset.taken) {
          this.showPicture(this.pictureFor, true); // a newer picture arrived meanwhile
          const note = this.el.card.querySelector(".lj-note");
          if (note.textContent === this.t.refresh_pending) note.textContent = this.t.fresh;
        }
      }
    } catch (error) {
      /* the banner says how long the states have not been updated */
    }
    this.tick();
  }

  age(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    if (s < 90) return fmt(this.t.s_ago, { n: s });
    if (s < 90 * 60) return fmt(this.t.min_ago, { n: Math.round(s / 60) });
    if (s < 36 * 3600) return fmt(this.t.h_ago, { n: Math.round(s / 3600) });
    return fmt(this.t.d_ago, { n: Math.round(s / 86400) });
  }

  clock(epoch, seconds) {
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: this.data.timezone };
    if (seconds) options.second = "2-digit";
    const text = new Intl.DateTimeFormat(this.data.lang, options).format(new Date(epoch * 1000));
    return `${this.data.lang === "id" ? text.replace(/:/g, ".") : text} ${this.data.zone}`;
  }

  pictureText(s) {
    if (!s) return this.t.no_picture_yet;
    if (s[3] == null) {
      if (s[1] === "unconfigured") return this.t.no_stream;
      if (s[1] === "pending") return this.t.no_picture_yet;
      return this.t.no_good_picture;
    }
    const age = this.age(Date.now() / 1000 + this.skew - s[3]);
    if (!this.data.failed.includes(s[1])) return fmt(this.t.picture_age, { age });
    return fmt(this.t.last_good, { age, when: this.clock(s[3]) });
  }

  caption(s) {
    return [s[2], this.pictureText(s)].filter(Boolean).join(" · ");
  }

  tick() {
    if (this.pictureFor) {
      const s = this.states.get(this.pictureFor);
      const line = this.el.card.querySelector(".lj-state");
      line.textContent = s ? this.caption(s) : this.t.no_picture_yet;
      line.dataset.state = s ? s[1] : "pending";
    }
    const quiet = (Date.now() - this.lastStates) / 1000;
    const late = quiet > 3 * (this.data.refresh_s || 4);
    this.el.banner.hidden = !late;
    if (late) this.el.banner.textContent = fmt(this.t.stale_states, { age: this.age(quiet).replace(/ \S+$/, "") });
  }

  // -- keyboard and search -------------------------------------------------------------------
  wireKeys() {
    const input = this.el.search;
    const results = this.el.results;
    input.addEventListener("input", () => this.listMatches());
    input.addEventListener("focus", () => this.listMatches());
    input.addEventListener("keydown", (e) => {
      const items = [...results.querySelectorAll("li[data-id]")];
      let at = items.findIndex((li) => li.getAttribute("aria-selected") === "true");
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        if (!items.length) return;
        at = e.key === "ArrowDown" ? Math.min(items.length - 1, at + 1) : Math.max(0, at - 1);
        items.forEach((li, i) => li.setAttribute("aria-selected", String(i === at)));
        items[at].scrollIntoView({ block: "nearest" });
      } else if (e.key === "Enter") {
        e.preventDefault();
        const chosen = items[Math.max(0, at)];
        if (chosen) this.choose(chosen.dataset.id);
      } else if (e.key === "Escape") {
        results.hidden = true;
        if (this.selected) this.close({ tell: true });
      }
    });
    input.addEventListener("blur", () => setTimeout(() => (results.hidden = true), 150));
    results.addEventListener("mousedown", (e) => {
      const li = e.target.closest("li[data-id]");
      if (li) this.choose(li.dataset.id);
    });
    this.el.card.querySelector(".lj-close").addEventListener("click", () => this.close({ tell: true }));
    this.el.card.querySelector(".lj-golive").addEventListener("click", () => this.toggleLive());
    this.root.addEventListener("keydown", (e) => {
      if (e.target === input) return;
      if (e.key === "Escape" && this.selected) this.close({ tell: true });
      if ((e.key === "ArrowRight" || e.key === "ArrowLeft") && this.selected) {
        e.preventDefault();
        if (!this.order) return;
        const at = this.order.indexOf(this.selected);
        const next = this.order[(at + (e.key === "ArrowRight" ? 1 : -1) + this.order.length) % this.order.length];
        this.choose(next);
      }
    });
  }

  listMatches() {
    const words = this.el.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const results = this.el.results;
    results.replaceChildren();
    if (!words.length) {
      results.hidden = true;
      return;
    }
    const found = (this.order || []).filter((id) => {
      const f = this.names.get(id);
      const text = `${f.name} ${id} ${f.agency} ${f.district}`.toLowerCase();
      return words.every((w) => text.includes(w));
    });
    for (const id of found.slice(0, 12)) {
      const li = document.createElement("li");
      li.dataset.id = id;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.textContent = `${this.names.get(id).name} · ${id} · ${this.names.get(id).agency}`;
      results.appendChild(li);
    }
    if (!found.length) {
      const li = document.createElement("li");
      li.className = "lj-none";
      li.textContent = this.t.no_match;
      results.appendChild(li);
    }
    results.hidden = false;
  }

  choose(id) {
    this.el.results.hidden = true;
    this.el.search.value = "";
    this.flyTo(id);
    this.select(id, { tell: true });
  }

  destroy() {
    this.stopLive();
    this.timers.forEach(clearInterval);
    if (this.deck && this.deckNodes && this.deckNodes.length) park(this.deck, this.deckNodes);
    else if (this.deck) this.deck.finalize();
    this.deck = null;
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  const root = parentElement.querySelector(".lj-opsmap");
  if (!root.__opsmap) {
    root.__opsmap = new OpsMap(root, data, setStateValue);
    window.lawangjaboMap = root.__opsmap; // for the browser tests and benchmarks/browser.py
  } else {
    root.__opsmap.setStateValue = setStateValue;
    root.__opsmap.update(data);
  }
  return () => {
    if (root.__opsmap) root.__opsmap.destroy();
    if (window.lawangjaboMap === root.__opsmap) window.lawangjaboMap = null;
    root.__opsmap = null;
  };
}
