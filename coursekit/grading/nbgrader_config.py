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

# Autograding real classes:
# - a per-cell time limit: an infinite loop is interrupted after `timeout` seconds, its cell
#   records a CellTimeoutError, and the rest of the notebook still runs (the grading tool
#   passes --Execute.timeout from its --timeout option);
# - a graded test cell that a student deleted is put back from the gradebook, so it is graded;
#   cells whose type was changed are turned back (nbgrader's OverwriteCells does that always).
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.execute_retries = 0
c.OverwriteCells.add_missing_cells = True
