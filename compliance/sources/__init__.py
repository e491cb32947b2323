"""Where facts come from. Three sources, laid out alike, each producing the records of ``compliance.facts``:

- ``live/<service>.py``: an AWS account (real or emulated) read through boto3, region by region;
- ``plan/<service>.py``: ``plan.json`` read as data (what the program declares, plus what AWS adds to it);
- ``hosts.py``: the evidence ``playbooks/verify.yml`` gathered on the installed hosts.

Sources never decide: they record what they read, or why they could not. Controls decide."""
