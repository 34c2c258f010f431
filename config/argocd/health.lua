-- ArgoCD health check for security.baseline.dev/v1alpha1 custom resources (SecurityBaseline,
-- BackupPolicy, EnvironmentIsolation share it). It reads only kstatus fields the operator
-- writes: status.observedGeneration, the Ready condition and status.summary (failingControls,
-- notEvaluatedControls). Non-compliance is a finding, not an unhealthy deployment: a reconciled
-- resource with failing controls is Healthy, and its message names them. A check the operator
-- could not run (state NotEvaluated) is Degraded: the resource asks for something the operator
-- cannot do as deployed (e.g. copied-Secret detection without Secret read), and no health may
-- read as fine while a check is silently missing.
local hs = {}
if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to reconcile"
  return hs
end
local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local ready = nil
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Ready" then
      ready = condition
    end
  end
end
local function readyMessage()
  if ready.message ~= nil and ready.message ~= "" then
    return ready.message
  end
  if ready.reason ~= nil and ready.reason ~= "" then
    return ready.reason
  end
  return "not ready"
end
-- A Ready=False about the current generation (e.g. an invalid spec) is Degraded right away,
-- even though status.observedGeneration still names the last good generation.
if ready ~= nil and ready.status == "False" and
    (generation == nil or ready.observedGeneration == nil or ready.observedGeneration >= generation) then
  hs.status = "Degraded"
  hs.message = readyMessage()
  return hs
end
local observed = obj.status.observedGeneration
if observed == nil or (generation ~= nil and observed < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = readyMessage()
  return hs
end
if ready == nil or ready.status ~= "True" then
  hs.status = "Progressing"
  hs.message = "waiting for the Ready condition"
  return hs
end
local notEvaluated = nil
if obj.status.summary ~= nil then
  notEvaluated = obj.status.summary.notEvaluatedControls
end
if notEvaluated ~= nil and notEvaluated ~= "" then
  hs.status = "Degraded"
  hs.message = "checks not run: " .. notEvaluated
  return hs
end
hs.status = "Healthy"
local failing = nil
if obj.status.summary ~= nil then
  failing = obj.status.summary.failingControls
end
if failing ~= nil and failing ~= "" then
  hs.message = "failing controls: " .. failing
else
  hs.message = "compliant"
end
return hs
