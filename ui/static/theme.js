// Applies the theme the user chose before the page paints, so a dark
// page never flashes light.
(function () {
  try {
    var t = localStorage.getItem("loom-theme");
    if (t === "dark" || t === "light") document.documentElement.dataset.theme = t;
  } catch (e) {}
})();
