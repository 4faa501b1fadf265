"""A finished level search's trials as rows (``results_table``), its Pareto front, a Markdown table and a plot.

Reads a KerasTuner tuner's oracle (``keras_fsq.tuning.make_tuner``) without importing KerasTuner.
"""

import math

from keras_fsq import files


def trial_levels(values):
    """The levels a trial used, from its hyperparameter values."""
    if "codebook_bits" in values:
        return [int(v) for v in values[f"levels_{values['codebook_bits']}bit"].split(",")]
    return [values[f"level_{i}"] for i in range(values["code_dim"])]


def results_table(tuner):
    """One row per finished trial, best first: levels, codebook size, held-out metrics, score.

    ``score`` is the tuner's objective at the trial's best epoch; the held-out
    metrics are the ones KerasTuner recorded at that same epoch (``best_step``).
    """
    rows = []
    for trial in tuner.oracle.trials.values():
        if trial.score is None:
            continue
        values = trial.hyperparameters.values
        levels = trial_levels(values)
        metrics = {}
        for name in ("psnr", "ssim", "reconstruction_loss", "bits_per_pixel", "codebook_usage"):
            if trial.metrics.exists(f"val_{name}"):
                at_step = {obs.step: obs.mean() for obs in trial.metrics.get_history(f"val_{name}")}
                metrics[name] = at_step[trial.best_step]
        rows.append(
            {
                "trial": trial.trial_id,
                "levels": levels,
                "codebook_size": math.prod(levels),
                **metrics,
                "score": trial.score,
                **{
                    k: v
                    for k, v in values.items()
                    if k in ("latent_dim", "learning_rate", "schedule", "final_temperature")
                },
            }
        )
    sign = 1 if tuner.oracle.objective.direction == "min" else -1
    return sorted(rows, key=lambda row: sign * row["score"])


def pareto_front(rows, rate="bits_per_pixel", quality="psnr"):
    """The rows no other row beats on both fewer bits and higher quality, by increasing rate."""
    front = [
        row
        for row in rows
        if not any(
            o[rate] <= row[rate] and o[quality] >= row[quality] and (o[rate], o[quality]) != (row[rate], row[quality])
            for o in rows
        )
    ]
    return sorted(front, key=lambda row: row[rate])


def markdown_results(rows):
    """``results_table`` rows as a Markdown table."""
    lines = [
        "| trial | levels | codebook size | bits / pixel | PSNR dB | codebook usage | recon. loss | score |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        usage = f"{row['codebook_usage']:.3f}" if "codebook_usage" in row else "–"
        lines.append(
            f"| {row['trial']} | {row['levels']} | {row['codebook_size']} | {row['bits_per_pixel']:.4f} "
            f"| {row['psnr']:.2f} | {usage} | {row['reconstruction_loss']:.4f} | {row['score']:.4f} |"
        )
    return "\n".join(lines) + "\n"


def plot_pareto_front(rows, path):
    """Held-out PSNR against bits per pixel for every trial, the Pareto front joined, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.5))
    axis.scatter([r["bits_per_pixel"] for r in rows], [r["psnr"] for r in rows], color="0.6", label="trials")
    front = pareto_front(rows)
    axis.plot([r["bits_per_pixel"] for r in front], [r["psnr"] for r in front], "o-", color="C0", label="Pareto front")
    for row in front:
        axis.annotate(",".join(map(str, row["levels"])), (row["bits_per_pixel"], row["psnr"]), fontsize=7)
    axis.set_xlabel("bits per pixel")
    axis.set_ylabel("held-out PSNR (dB)")
    axis.legend()
    figure.tight_layout()
    with files.replacing(path) as temporary:
        figure.savefig(temporary, dpi=100)
    plt.close(figure)
