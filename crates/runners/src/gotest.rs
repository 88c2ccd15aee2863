use crate::*;
pub(crate) fn plan(a: &Adapter, _i: &Invocation) -> Result<PlannedCommand, RunnersError> {
    Err(a.unsupported("x"))
}
pub(crate) fn parse(a: &Adapter, _c: &CollectedResults) -> Result<Vec<TestResult>, RunnersError> {
    Err(a.unsupported("x"))
}
