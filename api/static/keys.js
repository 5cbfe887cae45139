// What the key stations (rework, EL review) share: every key is acknowledged by colour, a toast and a
// sound, accepted or refused; a key sent after the session ended is said to be lost, then sign-in
// returns to the station.
window.EltraceKeys = (function () {
  "use strict";
  var audio = null, toastTimer = null;

  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var o = audio.createOscillator(), g = audio.createGain();
      o.type = ok ? "sine" : "square";
      o.frequency.value = ok ? 880 : 196;
      g.gain.value = 0.08;
      o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + (ok ? 0.09 : 0.35));
    } catch (e) { /* no audio device: colour and toast still say it */ }
  }

  function say(ok, text) {
    var toast = document.getElementById("toast");
    toast.textContent = text;
    toast.className = "toast show " + (ok ? "toast-ok" : "toast-bad");
    document.body.dataset.lastKey = ok ? "ok" : "refused";
    document.body.classList.remove("flash-ok", "flash-bad");
    void document.body.offsetWidth;  // restart the flash animation
    document.body.classList.add(ok ? "flash-ok" : "flash-bad");
    beep(ok);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { toast.classList.remove("show"); }, ok ? 1800 : 4000);
  }

  // POST one key; resolves to {ok, answer} (the JSON answer). `back` is where sign-in returns to.
  function post(url, body, back) {
    return fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) {
          say(false, document.getElementById("texts").dataset.expired);
          setTimeout(function () { location.href = "/login?" + new URLSearchParams({ next: back, why: "expired_post" }); }, 2500);
          throw new Error("signed out");
        }
        return r.json().then(function (j) { return { ok: r.ok && j.ok, answer: j }; });
      });
  }

  // The answer of the server did not come: the key is lost, say so (never silently).
  function offline(e) {
    if (!e || e.message !== "signed out") { say(false, document.getElementById("texts").dataset.offline); }
  }

  return { beep: beep, say: say, post: post, offline: offline };
})();
