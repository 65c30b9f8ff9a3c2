"""DHA's search history: loss, lr and weight decay, the policy and the architecture over the
steps, as the strategy-neutral history document and a plot (``search/dha.png``)."""

from __future__ import annotations

from typing import Any

from hasearch.store.run_dir import RunDir
from hasearch.strategies.base import SEARCH_HISTORY

PLOT = "search/dha.png"
POLICY = "search/policy.json"  # the learned augmentation policy (hasearch.augment.load_policy)


class DHAHistory:
    """Entries ``{step, stage, progress, loss, held_loss, lr, weight_decay, policy_entropy,
    top_pairs, architecture}``; phases: one per stage."""

    def __init__(self, run: RunDir, method: str, entries: list[dict[str, Any]] | None = None, phases: list[dict[str, Any]] | None = None) -> None:
        self.run, self.method = run, method
        self.entries: list[dict[str, Any]] = list(entries or [])
        self.phases: list[dict[str, Any]] = list(phases or [])

    def record(self, entry: dict[str, Any]) -> None:
        self.entries.append(entry)

    def save(self, *, final: dict[str, Any] | None = None) -> None:
        document = {"method": self.method, "entries": self.entries, "phases": self.phases, "derived": final}
        self.run.write_json(SEARCH_HISTORY, document)
        if final is not None and self.entries:
            self.plot()

    def plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [e["step"] for e in self.entries]
        fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
        axes[0].plot(steps, [e["loss"] for e in self.entries], label="training (augmented)")
        held = [(e["step"], e["held_loss"]) for e in self.entries if e.get("held_loss") is not None]
        if held:
            axes[0].plot(*zip(*held, strict=True), label="held batch at theta(t+1)")
        axes[0].set(title="loss", xlabel="step")
        axes[0].legend(fontsize=7)
        axes[1].plot(steps, [e["lr"] for e in self.entries], label="lr (with cosine decay)")
        axes[1].plot(steps, [e["weight_decay"] for e in self.entries], label="weight decay")
        axes[1].set(title="hyperparameters", xlabel="step", yscale="log")
        axes[1].legend(fontsize=7)
        axes[2].plot(steps, [e.get("policy_entropy") or 1.0 for e in self.entries])
        axes[2].set(title="augmentation policy entropy (1 = uniform)", xlabel="step")
        axes[2].ticklabel_format(useOffset=False)
        _plot_architecture(axes[3], self.entries)
        for phase in self.phases[:-1]:
            for ax in axes:
                ax.axvline(phase.get("last_step", 0), color="grey", linewidth=0.8, linestyle="--")
        fig.suptitle(f"{self.method} (seed 001): one training run")
        fig.tight_layout()
        self.run.save_figure(PLOT, fig)


def _plot_architecture(ax: Any, entries: list[dict[str, Any]]) -> None:
    """Per searched choice, the weight of its currently strongest option over the steps."""
    series: dict[str, list[tuple[int, float]]] = {}
    for e in entries:
        for name, value in (e.get("architecture") or {}).get("strength", {}).items():
            series.setdefault(name, []).append((e["step"], value))
    for name, points in list(series.items())[:16]:
        ax.plot(*zip(*points, strict=True), linewidth=0.8, label=name)
    ax.set(title="architecture (ISTA: |c_a| + |c_b| per node; Gumbel: top probability)", xlabel="step")
    if series:
        ax.legend(fontsize=5, ncol=2)
