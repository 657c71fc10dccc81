"""The onboarding course: tasks from the guidelines in a companion project, and who it certifies."""

from .course import Course, CourseTask, build_course, course_tasks
from .standing import Standing, certified_labelers, standings

__all__ = ["Course", "CourseTask", "build_course", "course_tasks", "Standing", "certified_labelers", "standings"]
