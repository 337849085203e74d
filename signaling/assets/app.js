// Secours administration centre: the little the pages need beyond htmx.
// No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";
(function () {
  // Drag and drop in the org chart (ORG-1): technicians, groups and
  // administrators onto technician groups (or the Technicians heading).
  document.addEventListener("dragstart", function (e) {
    var el = e.target.closest && e.target.closest("[data-drag]");
    if (!el) return;
    e.dataTransfer.setData("text/x-secours", el.getAttribute("data-drag"));
    e.dataTransfer.effectAllowed = "move";
  });
  document.addEventListener("dragover", function (e) {
    var el = e.target.closest && e.target.closest("[data-drop]");
    if (!el || !el.getAttribute("data-drop")) return;
    e.preventDefault();
    el.classList.add("drop-over");
  });
  document.addEventListener("dragleave", function (e) {
    var el = e.target.closest && e.target.closest("[data-drop]");
    if (el) el.classList.remove("drop-over");
  });
  document.addEventListener("drop", function (e) {
    var el = e.target.closest && e.target.closest("[data-drop]");
    if (!el || !el.getAttribute("data-drop")) return;
    e.preventDefault();
    el.classList.remove("drop-over");
    var what = e.dataTransfer.getData("text/x-secours");
    var to = el.getAttribute("data-drop");
    if (!what || what === to) return;
    secoursMove(what, to);
  });
  // Also callable from a test or a keyboard path.
  window.secoursMove = function (what, to) {
    return htmx.ajax("POST", "/admin/move", {
      source: document.body,
      target: "#tree",
      swap: "outerHTML",
      values: { what: what, to: to },
    });
  };
  // An error about one field (data-field) is shown beside that field too;
  // the text goes in as text, never as HTML.
  document.addEventListener("htmx:afterSwap", function (e) {
    var form = e.target.closest && e.target.closest("form");
    if (!form) return;
    form.querySelectorAll(".field-error").forEach(function (n) { n.remove(); });
    form.querySelectorAll("[aria-invalid]").forEach(function (n) { n.removeAttribute("aria-invalid"); });
    var flash = e.target.querySelector(".flash.error[data-field]");
    if (!flash) return;
    var name = flash.getAttribute("data-field");
    var input = form.querySelector('[name="' + name + '"]') || form.querySelector('[name="new_' + name + '"]');
    if (!input) return;
    input.setAttribute("aria-invalid", "true");
    var note = document.createElement("span");
    note.className = "field-error";
    note.setAttribute("role", "alert");
    note.textContent = flash.textContent;
    input.insertAdjacentElement("afterend", note);
  });
  // The live list redraws itself every two seconds, but not under the
  // hands of someone choosing a transfer target in it.
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail && e.detail.elt;
    if (!elt || elt.id !== "session-rows") return;
    var focus = document.activeElement;
    if (focus && focus.tagName === "SELECT" && elt.contains(focus)) e.preventDefault();
  });
  // Context menus (ORG-1): right-click on a node that has one.
  document.addEventListener("contextmenu", function (e) {
    var summary = e.target.closest && e.target.closest("summary");
    var menu = summary && summary.querySelector("menu.ctx");
    closeMenus();
    if (!menu) return;
    e.preventDefault();
    menu.hidden = false;
  });
  document.addEventListener("click", function (e) {
    if (!(e.target.closest && e.target.closest("menu.ctx"))) closeMenus();
  });
  function closeMenus() {
    document.querySelectorAll("menu.ctx").forEach(function (m) { m.hidden = true; });
  }
})();
