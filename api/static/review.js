// EL review station: keyboard only, no page reload per key. D defect (class preselected, <- -> change it),
// O OK, up / down choose the cell, U undo, Space finish the string and show the next. Every key, the local
// ones too, waits its turn in one queue, so keys faster than the page (two within 40 ms) are all applied,
// in order, each on the state the previous one left; each is acknowledged by colour, toast and sound.
(function () {
  "use strict";
  var root = document.getElementById("review");
  var texts = document.getElementById("texts").dataset;
  var keys = window.EltraceKeys, say = keys.say;
  var queue = Promise.resolve();
  var REFRESH_MS = 1000 * (Number(root.dataset.refreshS) || 15);

  function $(sel) { return root.querySelector(sel); }
  function rows() { return Array.prototype.slice.call(root.querySelectorAll("#cells tbody tr")); }
  function current() { return $("#cells tbody tr.current"); }
  function classes() { return Array.prototype.slice.call(root.querySelectorAll("#classes li")); }
  function chosen() { var li = $("#classes li.on"); return li ? li.dataset.cls : ""; }

  function choose(cls) {
    classes().forEach(function (li) {
      var on = li.dataset.cls === cls;
      li.classList.toggle("on", on);
      if (on) { li.setAttribute("aria-current", "true"); li.scrollIntoView({ block: "nearest" }); } else { li.removeAttribute("aria-current"); }
    });
  }
  function zoomTo(row) {
    var zoom = $("#zoom"), box = (row.dataset.box || "").split(",").map(Number);
    if (!zoom || box.length !== 4) { return; }
    var pad = Math.max(box[2], box[3]) * 0.6;
    zoom.setAttribute("viewBox", [box[0] - pad, box[1] - pad / 3, box[2] + 2 * pad, box[3] + 2 * pad / 3].join(" "));
    var r = $("#zoom-box");
    r.setAttribute("x", box[0]); r.setAttribute("y", box[1]); r.setAttribute("width", box[2]); r.setAttribute("height", box[3]);
  }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("current"); });
    root.querySelectorAll(".overlay g.current").forEach(function (g) { g.classList.remove("current"); });
    row.classList.add("current");
    row.scrollIntoView({ block: "nearest" });
    var g = document.getElementById("ov-" + row.dataset.defect);
    if (g) { g.classList.add("current"); }
    choose(row.dataset.cls);
    zoomTo(row);
  }

  function imageShown(since) {  // key -> next string's image on screen (the station's figure of speed)
    var img = $(".img-wrap img");
    function done() { document.body.dataset.nextImageMs = String(Date.now() - since); document.body.dataset.imageReady = "1"; }
    if (!img) { done(); return; }
    if (img.complete && img.naturalWidth) { done(); } else { img.addEventListener("load", done); }
  }

  function send(key) {
    var image = $("#image"), row = current(), started = Date.now();
    if (!image) { say(false, texts.nothing); return null; }
    if ((key === "D" || key === "O") && !row) { say(false, texts.noCell); return null; }
    var body = new URLSearchParams({
      csrf_token: root.querySelector("input[name=csrf_token]").value,
      result_id: image.dataset.result, station: root.dataset.station, key: key,
      defect_id: row && (key === "D" || key === "O") ? row.dataset.defect : "", cls: key === "D" ? chosen() : ""
    });
    var back = "/review?" + new URLSearchParams({ station: root.dataset.station, result: image.dataset.result });
    return keys.post("/review/key", body, back).then(function (res) {
      if (res.answer.html !== undefined) { root.innerHTML = res.answer.html; }
      say(res.ok, res.answer.detail);
      if (key === "N" && res.ok) { imageShown(started); }
    });
  }

  function local(key) {  // keys the page answers itself: the cell and the class
    var row = current();
    if (key === "ArrowUp" || key === "ArrowDown") {
      var rs = rows(), cur = rs.indexOf(row);
      var next = rs[(cur + (key === "ArrowDown" ? 1 : rs.length - 1)) % rs.length];
      if (next) { select(next); } else { say(false, texts.nothing); }
      return;
    }
    var cs = classes().map(function (li) { return li.dataset.cls; });
    if (!cs.length) { say(false, texts.nothing); return; }
    if (!row) { say(false, texts.noCell); return; }
    var i = cs.indexOf(chosen()), step = key === "ArrowRight" ? 1 : cs.length - 1;
    var cls = cs[((i < 0 ? 0 : i) + step) % cs.length];
    choose(cls);
    row.dataset.cls = cls;
    var li = $("#classes li.on");
    say(true, texts["class"].replace("%(cls)s", li ? li.textContent : cls));
  }

  var SENT = { d: "D", o: "O", u: "U", " ": "N" };
  var LOCAL = { ArrowUp: 1, ArrowDown: 1, ArrowLeft: 1, ArrowRight: 1 };

  function act(key) {
    queue = queue.then(function () { return SENT[key] ? send(SENT[key]) : local(key); }).catch(keys.offline);
  }

  // The queue bar stays current while the operator works, and an empty station shows a new REVIEW string
  // when one arrives (polled; in the key queue, so it never lands between a key and its answer).
  function refresh() {
    var url = "/review?" + new URLSearchParams({ station: root.dataset.station });
    return fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (!html) { return; }
      var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("review");
      if (!fresh) { return; }
      if ($("#empty") && fresh.querySelector("#image")) {
        root.innerHTML = fresh.innerHTML;
        say(true, texts.arrived);
      } else if ($("#queue") && fresh.querySelector("#queue")) {
        $("#queue").replaceWith(fresh.querySelector("#queue"));
      }
    });
  }
  setInterval(function () { queue = queue.then(refresh).catch(function () { /* the next poll tries again */ }); }, REFRESH_MS);

  root.addEventListener("click", function (ev) {  // a touch on a key button is the same key
    var btn = ev.target.closest ? ev.target.closest("button[data-key]") : null;
    if (!btn) { return; }
    ev.preventDefault();
    act(btn.dataset.key.length === 1 ? btn.dataset.key.toLowerCase() : btn.dataset.key);
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.altKey || ev.metaKey || ev.repeat) { return; }
    if (ev.target && ev.target.id === "lookup") { return; }  // typing a barcode in the header's search
    var key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (!SENT[key] && !LOCAL[key]) { return; }
    ev.preventDefault();
    act(key);
  });
})();
