"""The template registration's translation of a cubic spline equals SciPy's general interpolation (issue 14:
the live update's speed on real frames)."""

import numpy as np
import pytest
from scipy import ndimage

from atompump.com.template import translated


@pytest.mark.parametrize("rows, columns", [((10, 50), (10, 60)), ((0, 60), (0, 70)), ((3, 40), (0, 20)),
                                           ((50, 60), (60, 70))])
def test_translation_equals_map_coordinates_inside_and_at_the_edges(rows, columns):
    rng = np.random.default_rng(1)
    coefficients = rng.normal(size=(60, 70))
    yy, xx = np.mgrid[rows[0]:rows[1], columns[0]:columns[1]].astype(float)
    for s, t in [(0.0, 0.0), (0.3, -0.7), (-5.2, 3.999), (1e-3, -1e-3), (2.5, 2.5), (-0.999999, 0.0), (13.4, -20.2)]:
        expected = ndimage.map_coordinates(coefficients, np.array([(yy - t).ravel(), (xx - s).ravel()]), order=3,
                                           prefilter=False, mode="constant", cval=0.0).reshape(yy.shape)
        np.testing.assert_allclose(translated(coefficients, rows=rows, columns=columns, s=s, t=t), expected,
                                   rtol=0, atol=1e-13)


def test_a_whole_pixel_translation_of_the_spline_reproduces_the_image():
    # a spline through an image (prefiltered coefficients) moved by whole pixels gives back the image's pixels
    rng = np.random.default_rng(2)
    image = ndimage.gaussian_filter(rng.normal(size=(40, 40)), 2.0)
    coefficients = ndimage.spline_filter(image, order=3, mode="mirror")
    moved = translated(coefficients, rows=(10, 30), columns=(10, 30), s=3.0, t=-2.0)
    np.testing.assert_allclose(moved, image[12:32, 7:27], atol=1e-12)
