// The console works without this script. With it, the fleet filter applies
// as you type, and the page can refresh itself every 10 seconds.
(function () {
  "use strict";
  var form = document.getElementById("filter");
  var table = document.getElementById("fleet");
  if (!form || !table) { return; }
  var text = document.getElementById("q");
  var state = document.getElementById("state");
  var caption = table.querySelector("caption");

  function apply() {
    var needle = text.value.trim().toLowerCase();
    var wanted = state.value;
    var shown = 0;
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      if (!row.dataset.tenant) { return; }
      var match = (!wanted || row.dataset.state === wanted) &&
        (!needle || row.dataset.search.indexOf(needle) !== -1);
      row.hidden = !match;
      if (match) { shown += 1; }
    });
    caption.textContent = shown + " shown; filter applied as you type. Reload the page for fresh data.";
    var query = new URLSearchParams();
    if (needle) { query.set("q", text.value.trim()); }
    if (wanted) { query.set("state", wanted); }
    var search = query.toString();
    history.replaceState(null, "", search ? "/?" + search : "/");
  }
  text.addEventListener("input", apply);
  state.addEventListener("change", apply);

  var auto = document.getElementById("auto-refresh");
  var key = "confluence-hub.auto-refresh";
  auto.checked = window.localStorage && localStorage.getItem(key) === "on";
  auto.addEventListener("change", function () {
    if (window.localStorage) { localStorage.setItem(key, auto.checked ? "on" : "off"); }
  });
  window.setInterval(function () {
    if (auto.checked && document.visibilityState === "visible" && document.activeElement !== text) {
      window.location.reload();
    }
  }, 10000);
})();
