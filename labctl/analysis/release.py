"""Heat-triggered release measured by the dequenching of a self-quenched cargo.

Inside a liposome the cargo keeps a fraction ``q`` of its fluorescence (self-quenching,
J. N. Weinstein et al., Science 195 (1977) 489); released, it fluoresces fully.  With
the tumor's specific fluorescence (tumor ROI minus normal tissue) ``S_before`` and
``S_after`` of two images, the cargo in the tumor before is estimated as ``S_before / q``
(all of it encapsulated) and the released fraction as::

    f = (S_after - S_before) / (S_before / q - S_before) = (S_after / S_before - 1) q / (1 - q)

the standard dequenching assay with the batch's quench ``q`` measured in vitro (detergent
lysis).  Free cargo already present before, and cargo released from liposomes flowing
through the heated vessels, make ``f`` a relative measure (it may exceed 1); cargo washed
out between the images makes it lower.
"""

from __future__ import annotations

import math

__all__ = ["released_fraction"]


def released_fraction(s_before: float, s_after: float, quench: float) -> float:
    """``f`` of the module doc (``s_*`` in counts, ``quench`` in (0, 1))."""
    if not (0 < quench < 1):
        raise ValueError(f"quench must be in (0, 1), not {quench!r}")
    if not (math.isfinite(s_before) and math.isfinite(s_after)) or s_before <= 0:
        raise ValueError(f"need a positive signal before release, not {s_before!r}")
    return (s_after / s_before - 1.0) * quench / (1.0 - quench)
