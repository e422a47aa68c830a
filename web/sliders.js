// Finding sliders: a filter box (typing "glass" leaves Eyeglasses), a "moved only" view, and a
// mark on every slider that is not at 0, with how many are moved. All in the page: no request.
// Runs as the `js_on_load` of the `gr.HTML` component whose template holds the two controls.

const query = element.querySelector("input.finder-query");
const movedOnly = element.querySelector("input.finder-moved");
const count = element.querySelector(".finder-count");

function sliders() {
  return [...document.querySelectorAll('[id^="slider-"]')];
}

function valueOf(box) {
  const range = box.querySelector("input[type=range]");
  const v = range ? parseFloat(range.value) : 0;
  return Number.isFinite(v) ? v : 0;
}

function update() {
  const q = query.value.trim().toLowerCase().replace(/[\s_]+/g, " ");
  let moved = 0;
  for (const box of sliders()) {
    const name = box.id.slice("slider-".length).toLowerCase().replace(/_/g, " ");
    const label = (box.querySelector("label, .label-wrap, span")?.textContent || "").toLowerCase();
    const isMoved = valueOf(box) !== 0;
    moved += isMoved;
    box.classList.toggle("moved", isMoved);
    const show = (!q || name.includes(q) || label.includes(q)) && (!movedOnly.checked || isMoved);
    box.classList.toggle("filtered-out", !show);
  }
  // A group heading goes with its sliders.
  for (const group of document.querySelectorAll(".slider-group")) {
    const any = [...group.querySelectorAll('[id^="slider-"]')].some((b) => !b.classList.contains("filtered-out"));
    group.classList.toggle("filtered-out", !any);
  }
  count.textContent = moved ? `${moved} moved` : "";
  element.dataset.moved = String(moved);
}

query.addEventListener("input", update);
movedOnly.addEventListener("change", update);
document.addEventListener("input", (e) => { if (e.target.type === "range") update(); });
setInterval(update, 300);  // values the server sets (Reset, a random face) have no DOM event
update();
