"""The test reports' parts of the job page (`{% job_test_report job as report %}`,
templates/builds/_test_report.html) and of the repository page
(`{% recent_test_failures repo as tests %}`, templates/builds/_recent_test_failures.html),
so neither page's view changes for them."""

from django import template

from builds.models import TestReport
from builds.reports import recent_failures

register = template.Library()


@register.simple_tag
def job_test_report(job):
    report = TestReport.objects.filter(job=job).first()
    if report is None:
        return None
    return {"totals": report, "cases": list(report.cases.all())}


@register.simple_tag
def recent_test_failures(repository):
    return recent_failures(repository)
