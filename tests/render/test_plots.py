"""Loss plots: long curves are drawn through a bounded number of their epochs."""

from symbackprop.render.diagrams import POINTS_DRAWN, _thinned, learning_curve_plot, loss_plot


def test_a_long_curve_keeps_its_ends_and_at_most_the_points_a_plot_can_show():
    values = [1.0 / (1 + i) for i in range(10_001)]
    epochs, kept = _thinned(values)
    assert epochs[0] == 0 and epochs[-1] == 10_000 and len(epochs) <= POINTS_DRAWN
    assert kept == [values[i] for i in epochs] and epochs == sorted(set(epochs))
    assert _thinned(values[:10]) == (list(range(10)), values[:10])


def test_a_10000_epoch_loss_plot_is_a_small_svg():
    svg = loss_plot([1.0 / (1 + i) for i in range(10_001)], "svg")
    assert svg.startswith(b"<?xml") and len(svg) < 200_000


def test_a_log_axis_is_labelled_in_plain_text_without_mathtext(monkeypatch):
    # Matplotlib's own log labels are mathtext ($10^{-3}$), whose parser took most of the
    # plotting time of a small report: the labels are plain text, powers of ten in superscript.
    import matplotlib.mathtext

    def refuse(*args, **kwargs):
        raise AssertionError("mathtext was parsed")

    monkeypatch.setattr(matplotlib.mathtext.MathTextParser, "parse", refuse)
    losses = [0.3 * 0.999**i + 1e-5 for i in range(10_001)]
    svg = loss_plot(losses, "svg").decode()
    for label in ("10⁻¹", "10⁻²", "10⁻³", "10⁻⁴"):
        assert f">{label}<" in svg
    curves = learning_curve_plot(losses, losses, fmt="svg").decode()
    assert ">10⁻²<" in curves and "mathdefault" not in curves
