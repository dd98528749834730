// Live updates of the console: the server says "changed" over server-sent events, the page fetches itself
// again and swaps its live part (#live). One fetch at a time; changes during a fetch fold into one more.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource) { return; }
  var busy = false, again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("live");
        var current = document.getElementById("live");
        if (fresh && current) {
          var focused = document.activeElement && document.activeElement.getAttribute("href");
          current.replaceWith(fresh);
          if (focused) {  // keep the keyboard user's place in the list
            var same = fresh.querySelector('a[href="' + focused + '"]');
            if (same) { same.focus(); }
          }
        }
      })
      .catch(function () { /* signed out or server away: the next event retries */ })
      .finally(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var source = new EventSource("/console/events");
  source.addEventListener("changed", refresh);
  source.addEventListener("hello", function () { document.body.setAttribute("data-live-connected", "1"); });
})();
