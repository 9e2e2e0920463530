"""How the workflow runs: its configuration, the planning of a night (which frames,
references and models a run uses), rule logging and time limits, the run lock and the
services jobs talk to.
"""
