"""cnnkit.plot: matplotlib figures for training a CNN -- training curves, confusion matrices, conv
filters, feature maps, misclassified images and image grids.

matplotlib is the optional extra ``cnnkit[plot]``, imported when a function first draws. Every
function returns the matplotlib Figure (made with pyplot, so ``plt.show()`` and notebooks display
it), takes ``path=`` to save it as a PNG at ``dpi``, and ``show=True`` to call ``plt.show()``.
Close figures you no longer need with ``matplotlib.pyplot.close(fig)``.
"""
from ._images import plot_images
from ._metrics import plot_confusion_matrix, plot_history
from ._model import plot_feature_maps, plot_filters, plot_misclassified

__all__ = ["plot_history", "plot_confusion_matrix", "plot_filters", "plot_feature_maps",
           "plot_misclassified", "plot_images"]
