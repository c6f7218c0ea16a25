// Live video in a camera card: a websocket to our own server (same sign-in, same origin), the
// camera's H.264 remuxed to fragmented MP4 played through Media Source Extensions, or JPEG
// pictures where MSE or the codec is missing (older iPhones, H.265). The stored picture stays as
// the poster until the first live frame; "LIVE" then shows the time our server received the
// frame on screen and how far behind that is. No stream URL ever reaches the browser.

const HEADER = 9; // kind (1 byte) + the server's arrival time (float64)

class LivePlayer {
  constructor({ box, bar, poster, cameraId, texts, clock, lang, onState }) {
    this.lang = lang || "en";
    this.box = box;
    this.bar = bar;
    this.poster = poster;
    this.id = cameraId;
    this.t = texts;
    this.clock = clock; // (epoch seconds) -> text in the city's time
    this.onState = onState || (() => {});
    this.offset = 0; // server clock − browser clock (s), from ping/pong
    this.arrivals = []; // [media end time (s), server arrival time]
    this.queue = [];
    this.closed = false;
    this.timings = { asked: performance.now() };
  }

  start(mode) {
    this.mode = mode || (window.MediaSource ? "mse" : "jpeg");
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/api/cameras/${encodeURIComponent(this.id)}/live?mode=${this.mode}&lang=${this.lang}`;
    this.build(this.mode);
    if (this.poster && this.timings.poster_ms == null) {
      const shown = new Image(); // the stored picture, cached: on screen at once as the poster
      shown.onload = () => requestAnimationFrame(() => (this.timings.poster_ms = performance.now() - this.timings.asked));
      shown.src = this.poster;
    }
    this.say(this.t.live_connecting, "connecting");
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.ws.onmessage = (e) => (typeof e.data === "string" ? this.text(JSON.parse(e.data)) : this.binary(e.data));
    this.ws.onclose = (e) => this.closedBy(e);
    this.ws.onopen = () => this.ping();
    this.pinger = setInterval(() => this.ping(), 5000);
    this.ticker = setInterval(() => this.show(), 1000);
  }

  build(mode) {
    // what shows the live picture: a video (MSE) or an image (JPEG pictures)
    this.mode = mode;
    this.box.replaceChildren();
    this.box.hidden = false;
    this.video = null;
    this.img = null;
    if (mode === "mse") {
      this.video = document.createElement("video");
      this.video.muted = true;
      this.video.playsInline = true;
      this.video.autoplay = true;
      this.video.poster = this.poster || "";
      this.box.appendChild(this.video);
      this.source = new MediaSource();
      this.video.src = URL.createObjectURL(this.source);
      this.opened = new Promise((resolve) => this.source.addEventListener("sourceopen", resolve, { once: true }));
      this.video.addEventListener("timeupdate", () => this.show());
      const first = () => this.firstFrame();
      if (this.video.requestVideoFrameCallback) this.video.requestVideoFrameCallback(first);
      else this.video.addEventListener("playing", first, { once: true });
    } else {
      this.img = document.createElement("img");
      this.img.alt = "";
      if (this.poster) this.img.src = this.poster;
      this.box.appendChild(this.img);
    }
  }

  ping() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "ping", t: Date.now() / 1000 }));
  }

  text(m) {
    if (m.type === "pong" && typeof m.t === "number") {
      const now = Date.now() / 1000;
      this.offset = m.server_time - (m.t + (now - m.t) / 2);
    } else if (m.type === "hello") {
      if (m.mode !== this.mode) this.build(m.mode); // a camera that only gives pictures
      this.maxS = m.max_s;
      this.keyframeS = m.keyframe_interval_s;
      if (this.keyframeS && this.keyframeS > 2) this.say(fmt(this.t.live_keyframe_wait, { n: Math.round(this.keyframeS) }), "connecting");
    } else if (m.type === "codec") {
      this.codec = `video/mp4; codecs="${m.codec}"`;
      if (this.mode === "mse" && !MediaSource.isTypeSupported(this.codec)) {
        this.restart("jpeg"); // this browser cannot play the camera's codec: pictures instead
      }
    } else if (m.type === "state") {
      this.state = m.state;
      this.since = m.since;
      if (m.state === "lost") this.say(fmt(this.t.live_lost, { reason: m.reason, when: this.clock(m.since) }), "lost");
      else if (m.state === "connecting" && !this.live) this.say(this.t.live_connecting, "connecting");
      else this.show();
    } else if (m.type === "refused") {
      this.refused = m.reason;
      this.say(fmt(this.t.live_refused, { reason: m.reason }), "refused");
    } else if (m.type === "end") {
      this.ended = m.reason;
    }
  }

  async binary(buffer) {
    const view = new DataView(buffer);
    const kind = view.getUint8(0);
    const at = view.getFloat64(1);
    const data = new Uint8Array(buffer, HEADER);
    if (kind === 2) {
      const url = URL.createObjectURL(new Blob([data], { type: "image/jpeg" }));
      const next = new Image();
      next.onload = () => {
        if (this.closed) return URL.revokeObjectURL(url);
        const old = this.img.src;
        this.img.src = url;
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
        this.frameAt = at;
        this.firstFrame();
        this.show();
      };
      next.src = url;
      return;
    }
    if (this.mode !== "mse") return;
    await this.opened;
    if (this.closed) return;
    if (kind === 0) {
      if (!this.buffer) {
        if (!MediaSource.isTypeSupported(this.codec)) return;
        this.buffer = this.source.addSourceBuffer(this.codec);
        this.buffer.mode = "segments";
        this.buffer.addEventListener("updateend", () => this.pump());
      }
    }
    this.queue.push({ data, at, kind });
    this.pump();
  }

  pump() {
    if (!this.buffer || this.buffer.updating || !this.queue.length || this.closed) return;
    const b = this.video.buffered;
    if (b.length && this.video.currentTime - b.start(0) > 20) {
      this.buffer.remove(0, this.video.currentTime - 10); // keep the page's memory small
      return;
    }
    const piece = this.queue.shift();
    try {
      this.buffer.appendBuffer(piece.data);
    } catch (error) {
      this.say(fmt(this.t.live_lost, { reason: String(error.name || error), when: this.clock(Date.now() / 1000) }), "lost");
      return;
    }
    if (piece.kind === 1) {
      this.buffer.addEventListener(
        "updateend",
        () => {
          const r = this.video.buffered;
          if (!r.length) return;
          const end = r.end(r.length - 1);
          this.arrivals.push([end, piece.at]);
          if (this.arrivals.length > 300) this.arrivals.splice(0, 100);
          // stay at the live edge: a backlog (a burst on joining, a pause) is skipped
          if (end - this.video.currentTime > 1.2) this.video.currentTime = Math.max(r.start(r.length - 1), end - 0.15);
          if (this.video.paused) this.video.play().catch(() => {});
        },
        { once: true }
      );
    }
  }

  firstFrame() {
    if (this.live || this.closed) return;
    this.live = true;
    this.timings.first_frame_ms = performance.now() - this.timings.asked;
    this.box.dataset.live = "true";
    this.show();
  }

  show() {
    if (!this.live || this.closed) return;
    if (this.state === "lost") return;
    let at = this.frameAt;
    if (this.video) {
      const now = this.video.currentTime;
      const hit = this.arrivals.find((a) => a[0] >= now);
      at = hit ? hit[1] : at;
    }
    if (at == null) return;
    const behind = Math.max(0, Date.now() / 1000 + this.offset - at);
    this.latency = behind;
    const delay = new Intl.NumberFormat(this.lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }).format(behind);
    this.say(fmt(this.t.live_on, { when: this.clock(at, true), delay }), "live");
  }

  say(text, state) {
    this.bar.textContent = text;
    this.bar.dataset.state = state;
    this.box.dataset.state = state;
    this.onState(state);
  }

  restart(mode) {
    this.teardown();
    this.closed = false;
    this.live = false;
    this.buffer = null;
    this.queue = [];
    this.arrivals = [];
    this.start(mode);
  }

  closedBy(event) {
    if (this.closed) return;
    if (this.refused) return;
    if (this.ended === "max_minutes") {
      this.say(fmt(this.t.live_ended, { n: Math.round((this.maxS || 0) / 60) }), "ended");
    } else {
      this.say(this.t.live_disconnected, "ended");
    }
    this.stopTimers();
  }

  stopTimers() {
    clearInterval(this.pinger);
    clearInterval(this.ticker);
  }

  teardown() {
    this.closed = true;
    this.stopTimers();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.onmessage = null;
      this.ws.close();
    }
    if (this.video) {
      this.video.removeAttribute("src");
      this.video.load();
    }
    if (this.img && this.img.src.startsWith("blob:")) URL.revokeObjectURL(this.img.src);
    this.video = null;
    this.img = null;
  }

  stop() {
    this.teardown();
    this.box.replaceChildren();
    this.box.hidden = true;
    delete this.box.dataset.live;
    this.bar.textContent = "";
    this.onState("off");
  }
}
