# nbgrader configuration of the coursekit course (nbgrader 0.9, https://nbgrader.readthedocs.io).
#
# `python -m coursekit.grading` copies this file into the course folder it builds (default
# ~/coursekit-grading, or --course-dir) and appends the folder's path as
# CourseDirectory.root, so plain `nbgrader ...` commands and the formgrader also work there.
# The sources are the course notebooks themselves: source/<assignment>/<assignment>.ipynb is
# copied from notebooks/<assignment>.ipynb at every release; there is no second copy to edit.
c = get_config()  # noqa: F821 (nbgrader defines get_config when it reads this file)

c.CourseDirectory.course_id = "coursekit"

# Student version: the code between the solution markers becomes this stub, and the first
# unanswered exercise therefore stops with NotImplementedError.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.enforce_metadata = True

# Autograding is not nbgrader's: `python -m coursekit.grading autograde` runs each submission
# in a sandbox and the tests in a process the student's code cannot reach (docs/TEACHING.md,
# "Security and integrity"), then writes the scores into this course's gradebook. nbgrader's
# own `nbgrader autograde` (and the formgrader's autograde button) would run the student's
# code as you, next to the gradebook: it is switched off here.
c.Autograde.sanitize_preprocessors = ["coursekit.grading.nbgrader_guard.RefuseUnsafeAutograde"]
c.Autograde.autograde_preprocessors = ["coursekit.grading.nbgrader_guard.RefuseUnsafeAutograde"]

# Students' notebooks are shown as HTML in the feedback pages and the formgrader. The grader
# already escapes the HTML of their markdown cells and keeps only text and image outputs;
# this asks nbconvert's own templates to sanitise as well.
c.HTMLExporter.sanitize_html = True
