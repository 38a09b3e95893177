"""Grading on nbgrader (maintainer side): ``assign`` writes the course folder and the release,
``submissions`` reads what students handed in, ``isolate`` runs one submission untrusted,
``record`` keeps nbgrader's gradebook and feedback, ``grade`` drives them in parallel, ``report``
writes grades.csv, summary.png and the terminal table, ``bench`` times it.
"""
