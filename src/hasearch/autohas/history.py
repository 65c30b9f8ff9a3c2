"""The controller's probabilities over time: saved as JSON and plotted (matplotlib)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hasearch.store.run_dir import RunDir
from hasearch.strategies.base import SEARCH_HISTORY

if TYPE_CHECKING:
    from hasearch.autohas.controller import Controller
    from hasearch.autohas.engine import StepResult

PLOT = "autohas/probabilities.png"


class History:
    """Entries ``{phase, step, progress, reward, accuracy, baselines, entropy, probabilities}``."""

    def __init__(
        self, run: RunDir, entries: list[dict[str, Any]] | None = None, phase_results: list[dict[str, Any]] | None = None
    ) -> None:
        self.run = run
        self.entries: list[dict[str, Any]] = list(entries or [])
        self.phase_results: list[dict[str, Any]] = list(phase_results or [])  # final probabilities and derivation per phase

    def record(self, state: Any, progress: float, result: StepResult, reward: float, controller: Controller) -> None:
        self.entries.append(
            {
                "phase": state.phase,
                "step": state.step,
                "progress": progress,
                "train_loss": result.train_loss,
                "accuracy": result.accuracy,
                "reward": reward,
                "baselines": dict(controller.baselines),
                "entropy": controller.entropy(),
                "probabilities": controller.probabilities(),
            }
        )

    def save(self, final: dict[str, Any] | None = None) -> None:
        document = {"method": "autohas", "entries": self.entries, "phases": self.phase_results, "derived": final}
        self.run.write_json(SEARCH_HISTORY, document)
        if final is not None and self.entries:
            self.plot()

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = sorted({n for e in self.entries for n in e["probabilities"]})
        cols = min(4, len(names))
        rows = (len(names) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
        for ax, name in zip(axes.flat, names, strict=False):
            points = [(i, e["probabilities"][name]) for i, e in enumerate(self.entries) if name in e["probabilities"]]
            xs = [p[0] for p in points]
            for k in range(len(points[0][1])):
                ax.plot(xs, [p[1][k] for p in points], label=str(k))
            ax.set_title(name, fontsize=9)
            ax.set_ylim(0, 1)
        for ax in list(axes.flat)[len(names) :]:
            ax.axis("off")
        fig.suptitle("AutoHAS controller: probability of each basis element over the search")
        fig.tight_layout()
        self.run.save_figure(PLOT, fig)
