"""lyse single-shot routine of atompump: add this file to lyse's single-shot routines.

Each shot's centre of mass along the pump axis and its error, the first moment, atom number, width and reject
reason go into ``/results/atompump`` of the shot file and lyse's DataFrame (``('atompump', name)``); see
:mod:`atompump.lyse`. The config is the YAML file named by the environment variable ``ATOMPUMP_CONFIG`` (defaults
without it); for another one, copy these lines into a routine of your own with
``single_shot_routine(config="path/to/my.yaml")``.
"""

from atompump.lyse import describe_shot, single_shot_routine

if __name__ == "__main__":  # lyse runs a routine as __main__, with lyse.path set to the shot
    print(describe_shot(single_shot_routine()))
