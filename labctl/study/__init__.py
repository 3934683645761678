"""Studies: subjects, agent administrations and sessions over days, decisions from data.

A study file (:mod:`labctl.config.study_file`) names the groups, subjects,
administrations, sessions and decisions; :mod:`.schedule` turns them into times per
subject, :mod:`.records` keeps what happened in the study's directory, :mod:`.decisions`
computes metrics from stored runs, :mod:`.runner` runs sessions through the protocol
runner and :mod:`.status` prints the timeline.
"""
