// debiasqe compare page: wipe between two images with one shared zoom and pan.
// Both images sit in stages with the same CSS transform, so they stay aligned at any zoom;
// the right layer is clipped at the wipe position. Data: the DATA object inlined above.
"use strict";
(function () {
  const D = DATA;
  const $ = (id) => document.getElementById(id);
  const view = $("view");
  const els = {
    imgL: $("img-left"), imgR: $("img-right"), stageL: $("stage-left"), stageR: $("stage-right"),
    layerR: $("layer-right"), wipe: $("wipe"), labelL: $("label-left"), labelR: $("label-right"),
    sideL: $("side-left"), sideR: $("side-right"), image: $("sel-image"), setting: $("sel-setting"),
    left: $("sel-left"), right: $("sel-right"), zoom: $("zoom-level"), status: $("status"),
  };
  const MIN_SCALE = 0.05, MAX_SCALE = 64;
  const S = Object.assign({ wipe: 0.5, scale: 1, tx: 0, ty: 0, fit: true }, D.initial);

  function option(sel, value, text) {
    const o = document.createElement("option");
    o.value = String(value);
    o.textContent = text;
    sel.appendChild(o);
  }
  D.images.forEach((im, i) => option(els.image, i, im.name));
  D.settings.forEach((s, i) => option(els.setting, i, s.label));
  D.sources.forEach((s, i) => { option(els.left, i, s.label); option(els.right, i, s.label); });

  function readHash() {
    const h = new URLSearchParams(location.hash.replace(/^#/, ""));
    const find = (list, key, v) => list.findIndex((x) => x[key] === v);
    const pick = (name, list, key) => {
      if (!h.has(name)) return;
      const i = find(list, key, h.get(name));
      if (i >= 0) S[name] = i;
    };
    pick("image", D.images, "name");
    pick("setting", D.settings, "id");
    pick("left", D.sources, "id");
    pick("right", D.sources, "id");
    if (h.has("wipe")) { const w = parseFloat(h.get("wipe")); if (w >= 0 && w <= 1) S.wipe = w; }
    const z = parseFloat(h.get("zoom"));
    if (z > 0) { S.fit = false; S.pendingZoom = z; } else S.fit = true;  // no zoom: the view was fitted
  }
  function writeHash() {
    const h = new URLSearchParams({
      image: D.images[S.image].name, setting: D.settings[S.setting].id,
      left: D.sources[S.left].id, right: D.sources[S.right].id, wipe: S.wipe.toFixed(3),
    });
    if (!S.fit) h.set("zoom", S.scale.toFixed(3));
    try { history.replaceState(null, "", "#" + h.toString()); } catch (e) { /* some file:// contexts refuse */ }
  }

  function viewSize() { return { w: view.clientWidth, h: view.clientHeight }; }
  function imageSize() { const im = D.images[S.image]; return { w: im.width, h: im.height }; }
  function fitScale() {
    const v = viewSize(), im = imageSize();
    return Math.max(MIN_SCALE, Math.min(v.w / im.w, v.h / im.h));
  }
  function centreAt(scale) {
    const v = viewSize(), im = imageSize();
    S.scale = scale;
    S.tx = (v.w - im.w * scale) / 2;
    S.ty = (v.h - im.h * scale) / 2;
  }
  function fit() { S.fit = true; centreAt(fitScale()); }
  function zoomAbout(factor, cx, cy) {
    const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, S.scale * factor));
    const f = s / S.scale;
    S.tx = cx - (cx - S.tx) * f;
    S.ty = cy - (cy - S.ty) * f;
    S.scale = s;
    S.fit = false;
  }
  function zoomCentre(factor) { const v = viewSize(); zoomAbout(factor, v.w / 2, v.h / 2); }
  function oneToOne() { const v = viewSize(); zoomAbout(1 / S.scale, v.w / 2, v.h / 2); }

  function src(side) { return D.files[D.grid[S.image][S.setting][side]]; }

  function cell(v) {
    const td = document.createElement("td");
    td.textContent = v.text;
    if (v.value === null && v.text !== "reference") td.className = "na";
    for (const m of v.marks) {
      const sup = document.createElement("sup");
      sup.className = "mark";
      sup.textContent = m;
      td.appendChild(sup);
    }
    return td;
  }
  function sidePanel(el, which, k) {
    el.textContent = "";
    const h = document.createElement("h2");
    const tag = document.createElement("span");
    tag.className = "which";
    tag.textContent = which;
    h.appendChild(tag);
    h.appendChild(document.createTextNode(D.sources[k].label));
    el.appendChild(h);
    const table = document.createElement("table");
    const vals = D.values[S.image][S.setting][k];
    for (const m of D.metrics) {
      const tr = document.createElement("tr");
      tr.dataset.metric = m.id;
      const th = document.createElement("th");
      th.textContent = m.label + (m.lowerBetter ? " \u2193" : " \u2191");
      tr.appendChild(th);
      tr.appendChild(cell(vals[m.id]));
      table.appendChild(tr);
    }
    el.appendChild(table);
    const p = document.createElement("p");
    p.className = "file";
    const f = src(k);
    p.textContent = f.startsWith("data:") ? "embedded PNG" : decodeURIComponent(f);
    el.appendChild(p);
  }

  function layout() {
    const t = `translate(${S.tx}px, ${S.ty}px) scale(${S.scale})`;
    els.stageL.style.transform = t;
    els.stageR.style.transform = t;
    view.classList.toggle("pixelated", S.scale > 1);
    const pct = (S.wipe * 100).toFixed(3) + "%";
    els.layerR.style.clipPath = `inset(0 0 0 ${pct})`;
    els.wipe.style.left = pct;
    els.wipe.setAttribute("aria-valuenow", (S.wipe * 100).toFixed(0));
    els.zoom.textContent = (S.scale * 100).toFixed(S.scale < 1 ? 1 : 0) + " %";
  }

  function render() {
    const im = D.images[S.image], set = D.settings[S.setting];
    for (const [img, k] of [[els.imgL, S.left], [els.imgR, S.right]]) {
      img.width = im.width;
      img.height = im.height;
      const url = src(k);
      if (img.getAttribute("src") !== url) img.setAttribute("src", url);
    }
    els.image.value = String(S.image);
    els.setting.value = String(S.setting);
    els.left.value = String(S.left);
    els.right.value = String(S.right);
    els.labelL.textContent = D.sources[S.left].label;
    els.labelR.textContent = D.sources[S.right].label;
    sidePanel(els.sideL, "left", S.left);
    sidePanel(els.sideR, "right", S.right);
    const bpp = D.bpp[S.image][S.setting];
    const crop = im.crop ? ` \u00b7 crop ${im.crop[2]}\u00d7${im.crop[3]} at (${im.crop[0]}, ${im.crop[1]}) of ${im.full[0]}\u00d7${im.full[1]}`
      : ` \u00b7 ${im.width}\u00d7${im.height}`;
    els.status.textContent = `${im.name} \u00b7 ${set.label}` + (bpp === null ? "" : ` \u00b7 ${bpp} bpp`) + crop;
    layout();
    writeHash();
  }

  function step(key, dir, n, avoid) {
    let k = (S[key] + dir + n) % n;
    if (avoid !== undefined && k === avoid && n > 2) k = (k + dir + n) % n;
    S[key] = k;
  }
  function setImage(i) { S.image = i; if (S.fit) fit(); render(); }

  // ---- controls
  const onSelect = (sel, key, after) => sel.addEventListener("change", () => {
    S[key] = parseInt(sel.value, 10);
    if (after) after();
    render();
    sel.blur();
    view.focus();
  });
  onSelect(els.image, "image", () => { if (S.fit) fit(); });
  onSelect(els.setting, "setting");
  onSelect(els.left, "left");
  onSelect(els.right, "right");
  $("btn-swap").addEventListener("click", () => { [S.left, S.right] = [S.right, S.left]; render(); });
  $("btn-fit").addEventListener("click", () => { fit(); layout(); writeHash(); });
  $("btn-one").addEventListener("click", () => { oneToOne(); layout(); writeHash(); });
  $("btn-zoom-in").addEventListener("click", () => { zoomCentre(1.5); layout(); writeHash(); });
  $("btn-zoom-out").addEventListener("click", () => { zoomCentre(1 / 1.5); layout(); writeHash(); });

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.target && e.target.tagName === "SELECT") return;  // the select's own keys
    const nSrc = D.sources.length;
    let handled = true;
    switch (e.key) {
      case "ArrowLeft": S.wipe = Math.max(0, S.wipe - (e.shiftKey ? 0.01 : 0.05)); break;
      case "ArrowRight": S.wipe = Math.min(1, S.wipe + (e.shiftKey ? 0.01 : 0.05)); break;
      case "ArrowUp": e.shiftKey ? step("left", -1, nSrc, S.right) : step("right", -1, nSrc, S.left); break;
      case "ArrowDown": e.shiftKey ? step("left", 1, nSrc, S.right) : step("right", 1, nSrc, S.left); break;
      case "[": case "PageUp": step("setting", -1, D.settings.length); break;
      case "]": case "PageDown": step("setting", 1, D.settings.length); break;
      case "n": step("image", 1, D.images.length); if (S.fit) fit(); break;
      case "p": step("image", -1, D.images.length); if (S.fit) fit(); break;
      case "+": case "=": zoomCentre(1.5); break;
      case "-": case "_": zoomCentre(1 / 1.5); break;
      case "0": fit(); break;
      case "1": oneToOne(); break;
      case "s": [S.left, S.right] = [S.right, S.left]; break;
      default: handled = false;
    }
    if (handled) { e.preventDefault(); render(); }
  });

  // ---- pointer: drag the divider to wipe, drag elsewhere to pan, wheel to zoom
  let drag = null;
  view.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    const onWipe = e.target === els.wipe || els.wipe.contains(e.target);
    drag = { mode: onWipe ? "wipe" : "pan", x: e.clientX, y: e.clientY, tx: S.tx, ty: S.ty };
    view.setPointerCapture(e.pointerId);
    if (!onWipe) view.classList.add("panning");
    view.focus();
    e.preventDefault();
  });
  view.addEventListener("pointermove", (e) => {
    if (!drag) return;
    if (drag.mode === "wipe") {
      const r = view.getBoundingClientRect();
      S.wipe = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
    } else {
      S.tx = drag.tx + (e.clientX - drag.x);
      S.ty = drag.ty + (e.clientY - drag.y);
      S.fit = false;
    }
    layout();
  });
  const endDrag = () => { if (drag) { drag = null; view.classList.remove("panning"); writeHash(); } };
  view.addEventListener("pointerup", endDrag);
  view.addEventListener("pointercancel", endDrag);
  view.addEventListener("wheel", (e) => {
    e.preventDefault();
    const r = view.getBoundingClientRect();
    zoomAbout(Math.exp(-e.deltaY * 0.002), e.clientX - r.left, e.clientY - r.top);
    layout();
    writeHash();
  }, { passive: false });
  window.addEventListener("resize", () => { if (S.fit) fit(); layout(); });
  window.addEventListener("hashchange", () => {  // a link to another view of this page
    readHash();
    if (S.pendingZoom) { centreAt(S.pendingZoom); delete S.pendingZoom; } else fit();
    render();
  });

  // ---- static parts
  $("title").textContent = `Compare images \u00b7 ${D.dataset}` + (D.selfContained ? " (self-contained)" : "");
  $("scope").textContent = "Beside each side: its value against raw, per image, as the evaluation wrote it" +
    (D.images.some((im) => im.crop) ? " (whole image, not the crop shown)." : ".");
  const notes = $("notes");
  for (const n of D.notes) {
    const li = document.createElement("li");
    const m = document.createElement("span");
    m.className = "mark";
    m.textContent = n.mark;
    li.appendChild(m);
    li.appendChild(document.createTextNode(n.text));
    notes.appendChild(li);
  }

  readHash();
  if (S.pendingZoom) { centreAt(S.pendingZoom); S.fit = false; delete S.pendingZoom; } else fit();
  render();
  window.compare = { state: S, render, layout, data: D };  // for tests and the console
})();
