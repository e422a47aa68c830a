// The Compose tab: frame the faces the witness has picked (the picks box holds their numbers, 1 .. 12).
(picks) => {
  const chosen = new Set((picks || []).map(Number));
  document.querySelectorAll("#compose-screen .thumbnail-item").forEach((item, i) => {
    item.classList.toggle("picked", chosen.has(i + 1));
  });
  return [];
}
