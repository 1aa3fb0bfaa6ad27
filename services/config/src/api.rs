//! `cc.config.v1.Configuration`: the store seen from gRPC. Handlers only convert (see
//! [`crate::convert`]); every rule (validation, etags, references) is the store's.

use std::sync::Arc;

use cc_common::config::{
    CallerList, Department, Employee, Number, Scenario, Schedule, Screening, Trunk,
};
use cc_proto::config::v1 as pb;
use cc_proto::config::v1::configuration_server::{Configuration, ConfigurationServer};
use tonic::{Request, Response, Status};

use crate::convert::{self, etag, key, required, status};
use crate::store::ConfigStore;

/// The Configuration service over one store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ConfigApi {
    store: Arc<ConfigStore>,
}

impl ConfigApi {
    /// The service over `store` (without the tonic wrapper, e.g. for tests).
    pub fn new(store: Arc<ConfigStore>) -> Self {
        Self { store }
    }

    /// The tonic server for `store`.
    pub fn server(store: Arc<ConfigStore>) -> ConfigurationServer<ConfigApi> {
        ConfigurationServer::new(Self::new(store))
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Configuration for ConfigApi {
    // ----- employees -----

    async fn list_employees(
        &self,
        _request: Request<pb::ListEmployeesRequest>,
    ) -> Reply<pb::ListEmployeesResponse> {
        let (list, revision) = self.store.list::<Employee>();
        Ok(Response::new(pb::ListEmployeesResponse {
            employees: list.iter().map(convert::employee_pb).collect(),
            revision,
        }))
    }

    async fn get_employee(&self, request: Request<pb::GetEmployeeRequest>) -> Reply<pb::Employee> {
        let id = request.into_inner().id;
        key(&id, "id")?;
        let found = self.store.get::<Employee>(&id).map_err(status)?;
        Ok(Response::new(convert::employee_pb(&found)))
    }

    async fn create_employee(
        &self,
        request: Request<pb::CreateEmployeeRequest>,
    ) -> Reply<pb::Employee> {
        let employee = required(request.into_inner().employee, "employee")?;
        let created = self
            .store
            .create(convert::employee(employee)?)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::employee_pb(&created)))
    }

    async fn update_employee(
        &self,
        request: Request<pb::UpdateEmployeeRequest>,
    ) -> Reply<pb::Employee> {
        let employee = required(request.into_inner().employee, "employee")?;
        key(&employee.id, "employee.id")?;
        let etag = etag(&employee.etag, "employee.etag")?;
        let updated = self
            .store
            .update(convert::employee(employee)?, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::employee_pb(&updated)))
    }

    async fn delete_employee(
        &self,
        request: Request<pb::DeleteEmployeeRequest>,
    ) -> Reply<pb::DeleteEmployeeResponse> {
        let request = request.into_inner();
        key(&request.id, "id")?;
        let etag = etag(&request.etag, "etag")?;
        self.store
            .delete::<Employee>(&request.id, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteEmployeeResponse {}))
    }

    // ----- departments -----

    async fn list_departments(
        &self,
        _request: Request<pb::ListDepartmentsRequest>,
    ) -> Reply<pb::ListDepartmentsResponse> {
        let (list, revision) = self.store.list::<Department>();
        Ok(Response::new(pb::ListDepartmentsResponse {
            departments: list.iter().map(convert::department_pb).collect(),
            revision,
        }))
    }

    async fn get_department(
        &self,
        request: Request<pb::GetDepartmentRequest>,
    ) -> Reply<pb::Department> {
        let id = request.into_inner().id;
        key(&id, "id")?;
        let found = self.store.get::<Department>(&id).map_err(status)?;
        Ok(Response::new(convert::department_pb(&found)))
    }

    async fn create_department(
        &self,
        request: Request<pb::CreateDepartmentRequest>,
    ) -> Reply<pb::Department> {
        let department = required(request.into_inner().department, "department")?;
        let created = self
            .store
            .create(convert::department(department)?)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::department_pb(&created)))
    }

    async fn update_department(
        &self,
        request: Request<pb::UpdateDepartmentRequest>,
    ) -> Reply<pb::Department> {
        let department = required(request.into_inner().department, "department")?;
        key(&department.id, "department.id")?;
        let etag = etag(&department.etag, "department.etag")?;
        let updated = self
            .store
            .update(convert::department(department)?, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::department_pb(&updated)))
    }

    async fn delete_department(
        &self,
        request: Request<pb::DeleteDepartmentRequest>,
    ) -> Reply<pb::DeleteDepartmentResponse> {
        let request = request.into_inner();
        key(&request.id, "id")?;
        let etag = etag(&request.etag, "etag")?;
        self.store
            .delete::<Department>(&request.id, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteDepartmentResponse {}))
    }

    // ----- numbers -----

    async fn list_numbers(
        &self,
        _request: Request<pb::ListNumbersRequest>,
    ) -> Reply<pb::ListNumbersResponse> {
        let (list, revision) = self.store.list::<Number>();
        Ok(Response::new(pb::ListNumbersResponse {
            numbers: list.iter().map(convert::number_pb).collect(),
            revision,
        }))
    }

    async fn get_number(&self, request: Request<pb::GetNumberRequest>) -> Reply<pb::Number> {
        let number = request.into_inner().number;
        key(&number, "number")?;
        let found = self.store.get::<Number>(&number).map_err(status)?;
        Ok(Response::new(convert::number_pb(&found)))
    }

    async fn create_number(&self, request: Request<pb::CreateNumberRequest>) -> Reply<pb::Number> {
        let number = required(request.into_inner().number, "number")?;
        let created = self
            .store
            .create(convert::number(number)?)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::number_pb(&created)))
    }

    async fn update_number(&self, request: Request<pb::UpdateNumberRequest>) -> Reply<pb::Number> {
        let number = required(request.into_inner().number, "number")?;
        key(&number.number, "number.number")?;
        let etag = etag(&number.etag, "number.etag")?;
        let updated = self
            .store
            .update(convert::number(number)?, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::number_pb(&updated)))
    }

    async fn delete_number(
        &self,
        request: Request<pb::DeleteNumberRequest>,
    ) -> Reply<pb::DeleteNumberResponse> {
        let request = request.into_inner();
        key(&request.number, "number")?;
        let etag = etag(&request.etag, "etag")?;
        self.store
            .delete::<Number>(&request.number, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteNumberResponse {}))
    }

    // ----- trunks -----

    async fn list_trunks(
        &self,
        _request: Request<pb::ListTrunksRequest>,
    ) -> Reply<pb::ListTrunksResponse> {
        let (list, revision) = self.store.list::<Trunk>();
        Ok(Response::new(pb::ListTrunksResponse {
            trunks: list.iter().map(convert::trunk_pb).collect(),
            revision,
        }))
    }

    async fn get_trunk(&self, request: Request<pb::GetTrunkRequest>) -> Reply<pb::Trunk> {
        let id = request.into_inner().id;
        key(&id, "id")?;
        let found = self.store.get::<Trunk>(&id).map_err(status)?;
        Ok(Response::new(convert::trunk_pb(&found)))
    }

    async fn create_trunk(&self, request: Request<pb::CreateTrunkRequest>) -> Reply<pb::Trunk> {
        let trunk = required(request.into_inner().trunk, "trunk")?;
        let created = self
            .store
            .create(convert::trunk(trunk)?)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::trunk_pb(&created)))
    }

    async fn update_trunk(&self, request: Request<pb::UpdateTrunkRequest>) -> Reply<pb::Trunk> {
        let trunk = required(request.into_inner().trunk, "trunk")?;
        key(&trunk.id, "trunk.id")?;
        let etag = etag(&trunk.etag, "trunk.etag")?;
        let updated = self
            .store
            .update(convert::trunk(trunk)?, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::trunk_pb(&updated)))
    }

    async fn delete_trunk(
        &self,
        request: Request<pb::DeleteTrunkRequest>,
    ) -> Reply<pb::DeleteTrunkResponse> {
        let request = request.into_inner();
        key(&request.id, "id")?;
        let etag = etag(&request.etag, "etag")?;
        self.store
            .delete::<Trunk>(&request.id, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteTrunkResponse {}))
    }

    // ----- schedules -----

    async fn list_schedules(
        &self,
        _request: Request<pb::ListSchedulesRequest>,
    ) -> Reply<pb::ListSchedulesResponse> {
        let (list, revision) = self.store.list::<Schedule>();
        Ok(Response::new(pb::ListSchedulesResponse {
            schedules: list.iter().map(convert::schedule_pb).collect(),
            revision,
        }))
    }

    async fn get_schedule(&self, request: Request<pb::GetScheduleRequest>) -> Reply<pb::Schedule> {
        let id = request.into_inner().id;
        key(&id, "id")?;
        let found = self.store.get::<Schedule>(&id).map_err(status)?;
        Ok(Response::new(convert::schedule_pb(&found)))
    }

    async fn create_schedule(
        &self,
        request: Request<pb::CreateScheduleRequest>,
    ) -> Reply<pb::Schedule> {
        let schedule = required(request.into_inner().schedule, "schedule")?;
        let created = self
            .store
            .create(convert::schedule(schedule))
            .await
            .map_err(status)?;
        Ok(Response::new(convert::schedule_pb(&created)))
    }

    async fn update_schedule(
        &self,
        request: Request<pb::UpdateScheduleRequest>,
    ) -> Reply<pb::Schedule> {
        let schedule = required(request.into_inner().schedule, "schedule")?;
        key(&schedule.id, "schedule.id")?;
        let etag = etag(&schedule.etag, "schedule.etag")?;
        let updated = self
            .store
            .update(convert::schedule(schedule), etag)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::schedule_pb(&updated)))
    }

    async fn delete_schedule(
        &self,
        request: Request<pb::DeleteScheduleRequest>,
    ) -> Reply<pb::DeleteScheduleResponse> {
        let request = request.into_inner();
        key(&request.id, "id")?;
        let etag = etag(&request.etag, "etag")?;
        self.store
            .delete::<Schedule>(&request.id, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteScheduleResponse {}))
    }

    // ----- scenarios -----

    async fn list_scenarios(
        &self,
        _request: Request<pb::ListScenariosRequest>,
    ) -> Reply<pb::ListScenariosResponse> {
        let (list, revision) = self.store.list::<Scenario>();
        Ok(Response::new(pb::ListScenariosResponse {
            scenarios: list.iter().map(convert::scenario_pb).collect(),
            revision,
        }))
    }

    async fn get_scenario(&self, request: Request<pb::GetScenarioRequest>) -> Reply<pb::Scenario> {
        let id = request.into_inner().id;
        key(&id, "id")?;
        let found = self.store.get::<Scenario>(&id).map_err(status)?;
        Ok(Response::new(convert::scenario_pb(&found)))
    }

    async fn create_scenario(
        &self,
        request: Request<pb::CreateScenarioRequest>,
    ) -> Reply<pb::Scenario> {
        let scenario = required(request.into_inner().scenario, "scenario")?;
        let created = self
            .store
            .create(convert::scenario(scenario)?)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::scenario_pb(&created)))
    }

    async fn update_scenario(
        &self,
        request: Request<pb::UpdateScenarioRequest>,
    ) -> Reply<pb::Scenario> {
        let scenario = required(request.into_inner().scenario, "scenario")?;
        key(&scenario.id, "scenario.id")?;
        let etag = etag(&scenario.etag, "scenario.etag")?;
        let updated = self
            .store
            .update(convert::scenario(scenario)?, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::scenario_pb(&updated)))
    }

    async fn delete_scenario(
        &self,
        request: Request<pb::DeleteScenarioRequest>,
    ) -> Reply<pb::DeleteScenarioResponse> {
        let request = request.into_inner();
        key(&request.id, "id")?;
        let etag = etag(&request.etag, "etag")?;
        self.store
            .delete::<Scenario>(&request.id, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteScenarioResponse {}))
    }

    // ----- caller lists -----

    async fn list_caller_lists(
        &self,
        _request: Request<pb::ListCallerListsRequest>,
    ) -> Reply<pb::ListCallerListsResponse> {
        let (list, revision) = self.store.list::<CallerList>();
        Ok(Response::new(pb::ListCallerListsResponse {
            caller_lists: list.iter().map(convert::caller_list_pb).collect(),
            revision,
        }))
    }

    async fn get_caller_list(
        &self,
        request: Request<pb::GetCallerListRequest>,
    ) -> Reply<pb::CallerList> {
        let id = request.into_inner().id;
        key(&id, "id")?;
        let found = self.store.get::<CallerList>(&id).map_err(status)?;
        Ok(Response::new(convert::caller_list_pb(&found)))
    }

    async fn create_caller_list(
        &self,
        request: Request<pb::CreateCallerListRequest>,
    ) -> Reply<pb::CallerList> {
        let list = required(request.into_inner().caller_list, "caller_list")?;
        let created = self
            .store
            .create(convert::caller_list(list))
            .await
            .map_err(status)?;
        Ok(Response::new(convert::caller_list_pb(&created)))
    }

    async fn update_caller_list(
        &self,
        request: Request<pb::UpdateCallerListRequest>,
    ) -> Reply<pb::CallerList> {
        let list = required(request.into_inner().caller_list, "caller_list")?;
        key(&list.id, "caller_list.id")?;
        let etag = etag(&list.etag, "caller_list.etag")?;
        let updated = self
            .store
            .update(convert::caller_list(list), etag)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::caller_list_pb(&updated)))
    }

    async fn delete_caller_list(
        &self,
        request: Request<pb::DeleteCallerListRequest>,
    ) -> Reply<pb::DeleteCallerListResponse> {
        let request = request.into_inner();
        key(&request.id, "id")?;
        let etag = etag(&request.etag, "etag")?;
        self.store
            .delete::<CallerList>(&request.id, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteCallerListResponse {}))
    }

    // ----- screening policies -----

    async fn list_screening_policies(
        &self,
        _request: Request<pb::ListScreeningPoliciesRequest>,
    ) -> Reply<pb::ListScreeningPoliciesResponse> {
        let (list, revision) = self.store.list::<Screening>();
        Ok(Response::new(pb::ListScreeningPoliciesResponse {
            screening_policies: list.iter().map(convert::screening_pb).collect(),
            revision,
        }))
    }

    async fn get_screening_policy(
        &self,
        request: Request<pb::GetScreeningPolicyRequest>,
    ) -> Reply<pb::ScreeningPolicy> {
        let employee = request.into_inner().employee;
        key(&employee, "employee")?;
        let found = self.store.get::<Screening>(&employee).map_err(status)?;
        Ok(Response::new(convert::screening_pb(&found)))
    }

    async fn create_screening_policy(
        &self,
        request: Request<pb::CreateScreeningPolicyRequest>,
    ) -> Reply<pb::ScreeningPolicy> {
        let policy = required(request.into_inner().screening_policy, "screening_policy")?;
        let created = self
            .store
            .create(convert::screening(policy)?)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::screening_pb(&created)))
    }

    async fn update_screening_policy(
        &self,
        request: Request<pb::UpdateScreeningPolicyRequest>,
    ) -> Reply<pb::ScreeningPolicy> {
        let policy = required(request.into_inner().screening_policy, "screening_policy")?;
        key(&policy.employee, "screening_policy.employee")?;
        let etag = etag(&policy.etag, "screening_policy.etag")?;
        let updated = self
            .store
            .update(convert::screening(policy)?, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(convert::screening_pb(&updated)))
    }

    async fn delete_screening_policy(
        &self,
        request: Request<pb::DeleteScreeningPolicyRequest>,
    ) -> Reply<pb::DeleteScreeningPolicyResponse> {
        let request = request.into_inner();
        key(&request.employee, "employee")?;
        let etag = etag(&request.etag, "etag")?;
        self.store
            .delete::<Screening>(&request.employee, etag)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::DeleteScreeningPolicyResponse {}))
    }
}
