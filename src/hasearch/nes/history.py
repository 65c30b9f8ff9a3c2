"""NES's search history: H, the schedule and the resource per update, as JSON and a plot."""

from __future__ import annotations

from typing import Any

from hasearch.store.run_dir import RunDir
from hasearch.strategies.base import SEARCH_HISTORY

PLOT = "search/nes.png"


class NESHistory:
    """Entries ``{update, step, progress, sigma, alpha, h, child, resource, relative, loss}``."""

    def __init__(self, run: RunDir, names: tuple[str, ...], entries: list[dict[str, Any]] | None = None) -> None:
        self.run, self.names = run, names
        self.entries: list[dict[str, Any]] = list(entries or [])

    def record(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)

    def save(self, *, final: dict[str, Any] | None = None, result: dict[str, Any] | None = None) -> None:
        document = {"method": "nes", "names": list(self.names), "entries": self.entries, "phases": [result] if result else [], "derived": final}
        self.run.write_json(SEARCH_HISTORY, document)
        if final is not None and self.entries:
            self.plot()

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        updates = [e["update"] for e in self.entries]
        fig, (ax_h, ax_r, ax_s) = plt.subplots(1, 3, figsize=(14, 3.6))
        for j, name in enumerate(self.names):
            ax_h.plot(updates, [e["h"][j] for e in self.entries], label=name)
        ax_h.set(title="H (steps of each parameter)", xlabel="update")
        ax_h.legend(fontsize=7, ncol=2)
        ax_r.plot(updates, [e["relative"] for e in self.entries])
        ax_r.axhline(1.0, color="black", linewidth=0.8)
        ax_r.axhspan(0.95, 1.05, color="green", alpha=0.15)
        ax_r.set(title="resource of H's child / target", xlabel="update")
        ax_s.plot(updates, [e["sigma"] for e in self.entries], label="sigma")
        ax_s.plot(updates, [e["alpha"] for e in self.entries], label="alpha")
        ax_s.set(title="schedule", xlabel="update")
        ax_s.legend()
        fig.suptitle("NES (seed 003): architecture hyperparameters over the search")
        fig.tight_layout()
        self.run.save_figure(PLOT, fig)
