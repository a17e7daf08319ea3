"""lyse multi-shot routine of atompump: add this file to lyse's multi-shot routines (after the single-shot one).

Fits the displacement per pump cycle nu to the shots atompump's single-shot routine has measured so far, prints
nu with its error and plots the centres against direction x cycles with the fit; see :mod:`atompump.lyse`. Config
as for the single-shot routine (``ATOMPUMP_CONFIG``, or ``multi_shot_routine(config="path/to/my.yaml")``).
"""

from atompump.lyse import describe_nu, multi_shot_routine

if __name__ == "__main__":  # lyse runs a routine as __main__; lyse.data() is its DataFrame
    print(describe_nu(multi_shot_routine()))
