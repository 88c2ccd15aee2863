use crate::*;
pub(crate) fn plan_cargo(a: &Adapter, _i: &Invocation) -> Result<PlannedCommand, RunnersError> {
    Err(a.unsupported("x"))
}
pub(crate) fn plan_libtest(a: &Adapter, _i: &Invocation) -> Result<PlannedCommand, RunnersError> {
    Err(a.unsupported("x"))
}
pub(crate) fn parse(a: &Adapter, _c: &CollectedResults, _x: bool) -> Result<Vec<TestResult>, RunnersError> {
    Err(a.unsupported("x"))
}
